import Crypto
import Foundation

/// The secrets of one authorization request: the PKCE verifier and its S256 challenge (RFC 7636), and the
/// `state` that ties the redirect to this request (RFC 6749 section 10.12).
struct ProofKey: Sendable {
    let verifier: String
    let challenge: String
    let state: String

    static let method = "S256"

    init() {
        // 32 random bytes: a 43-character verifier, the shortest RFC 7636 allows, with 256 bits of entropy.
        verifier = ProofKey.randomBase64URL(byteCount: 32)
        challenge = ProofKey.base64URL(Data(SHA256.hash(data: Data(verifier.utf8))))
        state = ProofKey.randomBase64URL(byteCount: 16)
    }

    static func randomBase64URL(byteCount: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return base64URL(Data((0..<byteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
