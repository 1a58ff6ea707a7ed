import Crypto

/// Proof Key for Code Exchange (RFC 7636), S256 only: RFC 9700 section 2.1.1 forbids `plain`, which protects
/// nothing once the authorization request is observed.
enum PKCE {
    static let method = "S256"

    /// `code_verifier = 43*128unreserved` (RFC 7636 section 4.1).
    static func isValidVerifier(_ verifier: String) -> Bool {
        (43...128).contains(verifier.utf8.count) && verifier.utf8.allSatisfy(isUnreserved)
    }

    /// An S256 challenge is BASE64URL(SHA256(verifier)): exactly 43 base64url characters. Anything else cannot
    /// be one, whatever the client claims.
    static func isValidS256Challenge(_ challenge: String) -> Bool {
        challenge.utf8.count == 43 && challenge.utf8.allSatisfy(Base64URL.isAlphabet)
    }

    static func challenge(for verifier: String) -> String {
        Base64URL.encode(SHA256.hash(data: Array(verifier.utf8)))
    }

    static func verify(verifier: String, challenge: String) -> Bool {
        ConstantTime.equals(PKCE.challenge(for: verifier), challenge)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        Base64URL.isAlphabet(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "~")
    }
}
