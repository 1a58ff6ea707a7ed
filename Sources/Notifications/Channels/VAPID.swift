import Crypto
import Foundation
import MeridianKit

/// Voluntary Application Server Identification (RFC 8292): a short-lived ES256 JWT whose `aud` is the push
/// service's origin, sent with the application server's public key as `Authorization: vapid t=…, k=…`.
struct VAPID: Sendable {
    let privateKey: P256.Signing.PrivateKey
    /// `mailto:` or `https:` contact the push service may use (RFC 8292 section 2.1).
    let subject: String

    /// The uncompressed public key, base64url: what browsers pass as `applicationServerKey` when subscribing.
    var publicKey: String { privateKey.publicKey.x963Representation.base64URLEncodedString }

    /// The `Authorization` header for a request to `endpoint`. Tokens live 12 hours (the RFC caps them at 24).
    func authorization(for endpoint: URL, now: Date = Date()) throws -> String {
        guard let origin = VAPID.origin(of: endpoint) else { throw InvalidEndpoint() }
        let header = #"{"alg":"ES256","typ":"JWT"}"#
        let claims = JSONValue.object([
            "aud": .string(origin),
            "exp": .integer(Int64(now.timeIntervalSince1970) + 12 * 3600),
            "sub": .string(subject),
        ])
        let signingInput =
            Data(header.utf8).base64URLEncodedString + "." + Data(claims.serialized()).base64URLEncodedString
        let signature = try privateKey.signature(for: Data(signingInput.utf8))
        let token = signingInput + "." + signature.rawRepresentation.base64URLEncodedString
        return "vapid t=\(token), k=\(publicKey)"
    }

    struct InvalidEndpoint: Error {}

    /// `scheme://host[:port]`, the port only when it is not the scheme's default (RFC 6454 serialisation).
    static func origin(of url: URL) -> String? {
        guard let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased(), !host.isEmpty else { return nil }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        if let port = url.port, !(scheme == "https" && port == 443), !(scheme == "http" && port == 80) {
            return "\(scheme)://\(hostPart):\(port)"
        }
        return "\(scheme)://\(hostPart)"
    }
}

extension Data {
    /// Base64url without padding, as Web Push and JWS use it.
    var base64URLEncodedString: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init?(base64URLEncoded text: String) {
        guard text.utf8.allSatisfy({ byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "=")
        }) else { return nil }
        var base64 = text.replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        self.init(base64Encoded: base64)
    }
}
