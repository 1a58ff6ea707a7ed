import Crypto
import Foundation

/// Message encryption for Web Push (RFC 8291): the `aes128gcm` content coding of RFC 8188 with keys agreed by
/// ECDH on P-256 between a fresh application-server key and the browser's subscription key, mixed with the
/// subscription's authentication secret through HKDF-SHA-256.
enum WebPushEncryption {
    /// The record size announced in the header. One record carries the whole message, so a payload must fit in
    /// it (RFC 8291 section 4: push services accept at least 4096 bytes of body).
    static let recordSize = 4096
    /// The most plaintext one record holds: the record size less the 16-byte tag, the delimiter, and the header.
    static let maxPlaintext = recordSize - 16 - 1 - (16 + 4 + 1 + 65)

    enum Failure: Error, Equatable {
        case invalidSubscriptionKey
        case invalidAuthSecret
        case payloadTooLarge
    }

    /// Encrypts `plaintext` for the subscription (`uaPublic`: its 65-byte uncompressed `p256dh` key; `authSecret`:
    /// its 16-byte `auth`). `serverKey` and `salt` are fresh per message; tests pass the RFC's values.
    static func encrypt(
        _ plaintext: some DataProtocol, uaPublic: Data, authSecret: Data,
        serverKey: P256.KeyAgreement.PrivateKey = .init(),
        salt: Data = Data((0..<16).map { _ in UInt8.random(in: 0...255) })
    ) throws -> Data {
        guard plaintext.count <= maxPlaintext else { throw Failure.payloadTooLarge }
        guard authSecret.count == 16 else { throw Failure.invalidAuthSecret }
        guard uaPublic.count == 65, let uaKey = try? P256.KeyAgreement.PublicKey(x963Representation: uaPublic)
        else { throw Failure.invalidSubscriptionKey }
        let asPublic = serverKey.publicKey.x963Representation
        let shared = try serverKey.sharedSecretFromKeyAgreement(with: uaKey)

        // RFC 8291 section 3.4: IKM = HKDF(salt = auth_secret, ikm = ecdh_secret, info = key_info, L = 32).
        var keyInfo = Data("WebPush: info".utf8)
        keyInfo.append(0)
        keyInfo.append(uaPublic)
        keyInfo.append(asPublic)
        let ikm = shared.hkdfDerivedSymmetricKey(
            using: SHA256.self, salt: authSecret, sharedInfo: keyInfo, outputByteCount: 32)

        // RFC 8188 section 2.2 and 2.3: the content-encryption key and nonce from the message salt.
        let prk = HKDF<SHA256>.extract(inputKeyMaterial: ikm, salt: salt)
        let cek = HKDF<SHA256>.expand(
            pseudoRandomKey: prk, info: Data("Content-Encoding: aes128gcm".utf8) + [0], outputByteCount: 16)
        let nonceBytes = HKDF<SHA256>.expand(
            pseudoRandomKey: prk, info: Data("Content-Encoding: nonce".utf8) + [0], outputByteCount: 12)
            .withUnsafeBytes { Data($0) }

        // One record, so it is the last: the delimiter is 0x02 and no padding follows.
        var padded = Data(plaintext)
        padded.append(2)
        let sealed = try AES.GCM.seal(padded, using: cek, nonce: AES.GCM.Nonce(data: nonceBytes))

        var body = Data(salt)
        body.append(contentsOf: withUnsafeBytes(of: UInt32(recordSize).bigEndian, Array.init))
        body.append(UInt8(asPublic.count))
        body.append(asPublic)
        body.append(sealed.ciphertext)
        body.append(sealed.tag)
        return body
    }
}
