import Crypto
import Foundation
import MeridianKit

/// A Segment write key: a random secret shown once at creation; only its SHA-256 is stored. The key has 256
/// bits of entropy, so an unsalted fast hash is enough (nobody can guess their way to a preimage).
struct WriteKey: Sendable, Encodable {
    var id: String
    /// The first characters of the key, so an operator can tell keys apart without the secret.
    var prefix: String
    var createdAt: Date
    var createdBy: String
    var revokedAt: Date?

    static let secretPrefix = "mwk_"

    static func generate() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let text = bytes.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return secretPrefix + text
    }

    static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).hexString
    }

    enum CodingKeys: String, CodingKey {
        case id, prefix
        case createdAt = "created_at"
        case createdBy = "created_by"
        case revokedAt = "revoked_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(prefix, forKey: .prefix)
        try container.encode(Timestamp.format(createdAt), forKey: .createdAt)
        try container.encode(createdBy, forKey: .createdBy)
        try container.encode(revokedAt.map(Timestamp.format), forKey: .revokedAt)
    }
}
