import Crypto
import Foundation

/// The platform's 256-bit master key. It never encrypts data itself: it wraps each service's data keys (and the
/// seed of its blind-index key), so rotating it re-wraps a handful of rows instead of re-encrypting every value.
public struct MasterKey: Sendable {
    let key: SymmetricKey

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(bytes: some DataProtocol) throws {
        guard bytes.count == 32 else {
            throw Invalid(description: "a master key is 32 bytes (256 bits), this one has \(bytes.count)")
        }
        key = SymmetricKey(data: Array(bytes))
    }

    /// A key written as base64 (standard or URL alphabet; surrounding whitespace ignored), as in
    /// `MERIDIAN_MASTER_KEY` or a key file.
    public init(base64 text: String) throws {
        var normalized = text.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while normalized.count % 4 != 0 { normalized += "=" }
        guard let bytes = Data(base64Encoded: normalized) else {
            throw Invalid(description: "the master key is not valid base64")
        }
        try self.init(bytes: bytes)
    }

    /// A fresh random key.
    public static func generate() -> MasterKey {
        // 32 bytes from the system's CSPRNG: cannot have the wrong length.
        try! MasterKey(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) })
    }

    /// The key as base64, for writing a key file.
    public var base64: String { key.withUnsafeBytes { Data($0).base64EncodedString() } }

    /// A short, non-secret name of this key (a MAC of a fixed label under it): `keys status` shows it so an
    /// operator can tell which master key wraps a database without seeing the key.
    public var fingerprint: String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("meridian master key fingerprint".utf8), using: key)
        return mac.prefix(6).hexString
    }

    /// Key material for the blind indexes of one service: HKDF-SHA256 with the service name as context.
    func derivedIndexSeed(service: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: key, salt: Array("meridian-blind-index".utf8), info: Array(service.utf8),
            outputByteCount: 32)
    }
}
