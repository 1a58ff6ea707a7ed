import Crypto
import Foundation
import MeridianTestSupport
import Testing

@testable import Notifications

/// The receiving side of RFC 8291, written from the RFC: what a browser does with a push message.
enum WebPushReceiver {
    struct Failure: Error {}

    static func decrypt(_ body: Data, uaPrivate: P256.KeyAgreement.PrivateKey, authSecret: Data) throws -> Data {
        let bytes = [UInt8](body)
        guard bytes.count > 21 else { throw Failure() }
        let salt = Data(bytes[0..<16])
        let recordSize = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }
        let idLength = Int(bytes[20])
        let asPublic = Data(bytes[21..<(21 + idLength)])
        let ciphertext = Data(bytes[(21 + idLength)...])
        guard ciphertext.count <= recordSize else { throw Failure() }
        let shared = try uaPrivate.sharedSecretFromKeyAgreement(
            with: P256.KeyAgreement.PublicKey(x963Representation: asPublic))
        let keyInfo = Data("WebPush: info".utf8) + [0] + uaPrivate.publicKey.x963Representation + asPublic
        let ikm = shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: authSecret, sharedInfo: keyInfo, outputByteCount: 32)
        let prk = HKDF<SHA256>.extract(inputKeyMaterial: ikm, salt: salt)
        let cek = HKDF<SHA256>.expand(pseudoRandomKey: prk, info: Data("Content-Encoding: aes128gcm".utf8) + [0], outputByteCount: 16)
        let nonce = HKDF<SHA256>.expand(pseudoRandomKey: prk, info: Data("Content-Encoding: nonce".utf8) + [0], outputByteCount: 12)
            .withUnsafeBytes { Data($0) }
        let box = try AES.GCM.SealedBox(
            nonce: AES.GCM.Nonce(data: nonce), ciphertext: ciphertext.dropLast(16), tag: ciphertext.suffix(16))
        var padded = [UInt8](try AES.GCM.open(box, using: cek))
        while padded.last == 0 { padded.removeLast() }
        guard padded.last == 2 else { throw Failure() }
        return Data(padded.dropLast())
    }

    /// Verifies a `vapid t=…, k=…` header: the ES256 signature under `k`, and returns the claims.
    static func verifyVAPID(_ header: String) throws -> [String: Any] {
        guard header.hasPrefix("vapid ") else { throw Failure() }
        var parts: [String: String] = [:]
        for item in header.dropFirst(6).split(separator: ",") {
            let pair = item.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { parts[pair[0]] = pair[1] }
        }
        guard let token = parts["t"], let key = parts["k"], let keyData = Data(base64URL: key) else { throw Failure() }
        let segments = token.split(separator: ".").map(String.init)
        guard segments.count == 3, let signature = Data(base64URL: segments[2]),
            let headerJSON = Data(base64URL: segments[0]), let payload = Data(base64URL: segments[1])
        else { throw Failure() }
        let publicKey = try P256.Signing.PublicKey(x963Representation: keyData)
        let valid = publicKey.isValidSignature(
            try P256.Signing.ECDSASignature(rawRepresentation: signature), for: Data((segments[0] + "." + segments[1]).utf8))
        guard valid, let jose = try JSONSerialization.jsonObject(with: headerJSON) as? [String: Any],
            jose["alg"] as? String == "ES256"
        else { throw Failure() }
        return try JSONSerialization.jsonObject(with: payload) as? [String: Any] ?? [:]
    }
}

@Suite struct WebPushTests {
    /// RFC 8291 section 5: the worked example, byte for byte.
    @Test func rfc8291ExampleEncryptsToTheRFCsBytes() throws {
        let asPrivate = try P256.KeyAgreement.PrivateKey(
            rawRepresentation: #require(Data(base64URL: "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")))
        let uaPublic = try #require(Data(base64URL:
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"))
        let salt = try #require(Data(base64URL: "DGv6ra1nlYgDCS1FRnbzlw"))
        let auth = try #require(Data(base64URL: "BTBZMqHH6r4Tts7J_aSIgg"))
        let body = try WebPushEncryption.encrypt(
            Data("When I grow up, I want to be a watermelon".utf8), uaPublic: uaPublic, authSecret: auth,
            serverKey: asPrivate, salt: salt)
        #expect(
            body.base64URLEncoded
                == "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
        let uaPrivate = try P256.KeyAgreement.PrivateKey(
            rawRepresentation: #require(Data(base64URL: "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")))
        #expect(uaPrivate.publicKey.x963Representation == uaPublic)
        let plain = try WebPushReceiver.decrypt(body, uaPrivate: uaPrivate, authSecret: auth)
        #expect(String(decoding: plain, as: UTF8.self) == "When I grow up, I want to be a watermelon")
    }

    @Test func freshKeysDecryptAndDifferEveryTime() throws {
        let browser = P256.KeyAgreement.PrivateKey()
        let auth = Data((0..<16).map { _ in UInt8.random(in: 0...255) })
        let message = Data(#"{"title":"Hello"}"#.utf8)
        let first = try WebPushEncryption.encrypt(message, uaPublic: browser.publicKey.x963Representation, authSecret: auth)
        let second = try WebPushEncryption.encrypt(message, uaPublic: browser.publicKey.x963Representation, authSecret: auth)
        #expect(first != second)
        #expect(try WebPushReceiver.decrypt(first, uaPrivate: browser, authSecret: auth) == message)
        // The wrong authentication secret does not open it.
        #expect(throws: (any Error).self) {
            try WebPushReceiver.decrypt(first, uaPrivate: browser, authSecret: Data(repeating: 0, count: 16))
        }
    }

    @Test func badKeysAndOversizedPayloadsAreRefused() {
        let browser = P256.KeyAgreement.PrivateKey().publicKey.x963Representation
        #expect(throws: WebPushEncryption.Failure.invalidAuthSecret) {
            try WebPushEncryption.encrypt(Data("x".utf8), uaPublic: browser, authSecret: Data(count: 8))
        }
        #expect(throws: WebPushEncryption.Failure.invalidSubscriptionKey) {
            try WebPushEncryption.encrypt(Data("x".utf8), uaPublic: Data(repeating: 4, count: 65), authSecret: Data(count: 16))
        }
        #expect(throws: WebPushEncryption.Failure.payloadTooLarge) {
            try WebPushEncryption.encrypt(
                Data(count: WebPushEncryption.maxPlaintext + 1), uaPublic: browser, authSecret: Data(count: 16))
        }
    }

    /// RFC 8292: an ES256 JWT with `aud` the push service's origin, short-lived, with a contact `sub`.
    @Test func vapidTokenVerifiesAndNamesThePushOrigin() throws {
        let vapid = VAPID(privateKey: P256.Signing.PrivateKey(), subject: "mailto:ops@example.com")
        let now = Date()
        let header = try vapid.authorization(for: #require(URL(string: "https://push.example.net:8443/wp/abc?x=1")), now: now)
        let claims = try WebPushReceiver.verifyVAPID(header)
        #expect(claims["aud"] as? String == "https://push.example.net:8443")
        #expect(claims["sub"] as? String == "mailto:ops@example.com")
        let exp = try #require(claims["exp"] as? Int)
        #expect(exp > Int(now.timeIntervalSince1970) && exp <= Int(now.timeIntervalSince1970) + 24 * 3600)
        #expect(header.hasSuffix("k=\(vapid.publicKey)"))
        #expect(VAPID.origin(of: URL(string: "https://push.example.net:443/x")!) == "https://push.example.net")
    }

    @Test func pushServiceAnswersMapToOutcomes() {
        #expect(WebPushSender.result(status: 201, reason: "Created", retryAfter: nil).outcome == .sent)
        #expect(WebPushSender.result(status: 410, reason: "Gone", retryAfter: nil).outcome == .gone)
        #expect(WebPushSender.result(status: 404, reason: "Not Found", retryAfter: nil).outcome == .gone)
        #expect(WebPushSender.result(status: 413, reason: "Too Large", retryAfter: nil).outcome == .permanent)
        let limited = WebPushSender.result(status: 429, reason: "Too Many Requests", retryAfter: "120")
        #expect(limited.outcome == .transient)
        #expect(limited.retryAfter == .seconds(120))
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        // 1_700_000_000 is 2023-11-14T22:13:20Z: the date is a minute later.
        let dated = WebPushSender.result(
            status: 503, reason: "Unavailable", retryAfter: "Tue, 14 Nov 2023 22:14:20 GMT", now: now)
        #expect(dated.retryAfter == .seconds(60))
    }
}
