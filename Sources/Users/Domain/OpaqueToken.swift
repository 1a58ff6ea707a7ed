import Crypto
import Foundation
import MeridianKit

/// The random secrets of the authorization server: authorization codes, refresh tokens, client secrets and
/// CSRF cookies. Each is 256 bits from the system's CSPRNG, written base64url without padding (43 characters),
/// and stored only as its SHA-256 (client secrets: bcrypt), so a copy of the database redeems nothing.
enum OpaqueToken {
    static let byteCount = 32

    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<byteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Base64URL.encode(bytes)
    }

    /// The lookup key of a token: SHA-256, lower-case hex. A fast hash is enough because the input has 256
    /// bits of entropy; nobody can guess their way to a match.
    static func hash(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).hexString
    }

    /// Whether `text` could be a token this server made: bounds the work done on garbage before any lookup.
    static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == 43 && text.utf8.allSatisfy(Base64URL.isAlphabet)
    }
}

/// Base64url without padding (RFC 4648 section 5), as JOSE and PKCE use it.
enum Base64URL {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func isAlphabet(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }
}

/// Comparison whose duration does not depend on where two secrets first differ.
enum ConstantTime {
    static func equals(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8)
        let b = Array(rhs.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
