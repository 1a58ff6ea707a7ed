import Crypto
import Foundation
import SQLKit

/// One row of `audit_log` with its sealed details opened: what the hash covers.
struct AuditRecord: Sendable {
    var sequence: Int64
    var id: String
    var occurredAt: Int64
    var actorSub: String?
    var actorClientID: String?
    /// Sorted, comma-separated (role names are lower-case letters, digits and hyphens).
    var actorRoles: String
    var action: String
    var resourceType: String
    var resourceID: String?
    var requestID: String?
    var traceID: String?
    var outcome: String
    /// The plaintext of the sealed `details` column: canonical JSON of changes, source address and salt.
    var details: Data
    var previousHash: String
    var hash: String

    /// The `previous_hash` of the first record.
    static let genesisHash = String(repeating: "0", count: 64)

    static let table = "audit_log"
    static let detailsColumn = "details"

    static let columns = [
        "sequence", "id", "occurred_at", "actor_sub", "actor_client_id", "actor_roles", "action", "resource_type",
        "resource_id", "request_id", "trace_id", "outcome", "details", "previous_hash", "hash",
    ]

    /// SHA-256, hex, over the canonical encoding of the content and the previous hash. The encoding is
    /// length-prefixed (4-byte big-endian length, or 0xFFFFFFFF for an absent value), so no two different
    /// records encode alike. The sequence number is left out on purpose: the order is the chain of hashes, and
    /// a row moved to another position is found by its links.
    static func hash(
        service: String, id: String, occurredAt: Int64, actorSub: String?, actorClientID: String?, actorRoles: String,
        action: String, resourceType: String, resourceID: String?, requestID: String?, traceID: String?,
        outcome: String, details: Data, previousHash: String
    ) -> String {
        var hasher = SHA256()
        func field(_ bytes: Data?) {
            guard let bytes else {
                hasher.update(data: Data([0xFF, 0xFF, 0xFF, 0xFF]))
                return
            }
            let count = UInt32(bytes.count)
            hasher.update(data: Data([UInt8(count >> 24), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]))
            hasher.update(data: bytes)
        }
        func field(_ text: String?) { field(text.map { Data($0.utf8) }) }
        field("meridian-audit-v1")
        field(service)
        field(id)
        field(String(occurredAt))
        field(actorSub)
        field(actorClientID)
        field(actorRoles)
        field(action)
        field(resourceType)
        field(resourceID)
        field(requestID)
        field(traceID)
        field(outcome)
        field(details)
        field(previousHash)
        return hasher.finalize().hexString
    }

    func computedHash(service: String) -> String {
        AuditRecord.hash(
            service: service, id: id, occurredAt: occurredAt, actorSub: actorSub, actorClientID: actorClientID,
            actorRoles: actorRoles, action: action, resourceType: resourceType, resourceID: resourceID,
            requestID: requestID, traceID: traceID, outcome: outcome, details: details, previousHash: previousHash)
    }

    /// The sealed details as stored, before they are opened.
    struct Stored: Sendable {
        var record: AuditRecord
        var sealedDetails: Data
    }

    /// Reads a row; `details` stays empty until opened with the cipher.
    static func decode(_ row: any SQLRow) throws -> Stored {
        Stored(
            record: AuditRecord(
                sequence: try row.decode(column: "sequence", as: Int64.self),
                id: try row.decode(column: "id", as: String.self),
                occurredAt: try row.decode(column: "occurred_at", as: Int64.self),
                actorSub: try row.decode(column: "actor_sub", as: String?.self),
                actorClientID: try row.decode(column: "actor_client_id", as: String?.self),
                actorRoles: try row.decode(column: "actor_roles", as: String.self),
                action: try row.decode(column: "action", as: String.self),
                resourceType: try row.decode(column: "resource_type", as: String.self),
                resourceID: try row.decode(column: "resource_id", as: String?.self),
                requestID: try row.decode(column: "request_id", as: String?.self),
                traceID: try row.decode(column: "trace_id", as: String?.self),
                outcome: try row.decode(column: "outcome", as: String.self),
                details: Data(),
                previousHash: try row.decode(column: "previous_hash", as: String.self),
                hash: try row.decode(column: "hash", as: String.self)),
            sealedDetails: try row.decode(column: "details", as: Data.self))
    }
}

/// The decrypted details of a record.
struct AuditDetails: Sendable {
    var changes: JSONValue?
    var sourceAddress: String?

    /// Canonical JSON (sorted keys) with 16 random bytes of salt.
    func serialized() -> Data {
        var salt = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for index in salt.indices { salt[index] = generator.next() }
        let object: [String: JSONValue] = [
            "changes": changes ?? .null,
            "source_address": sourceAddress.map(JSONValue.string) ?? .null,
            "salt": .string(Data(salt).base64EncodedString()),
        ]
        return Data(JSONValue.object(object).serialized())
    }

    init(changes: JSONValue?, sourceAddress: String?) {
        self.changes = changes
        self.sourceAddress = sourceAddress
    }

    init(parsing data: Data) throws {
        guard case .object(let object) = try JSONValue.parse(data) else { throw AuditLogError.malformedDetails }
        let changes = object["changes"] ?? .null
        self.changes = changes == .null ? nil : changes
        if case .string(let address) = object["source_address"] { self.sourceAddress = address }
    }
}

public enum AuditLogError: Error, Sendable, CustomStringConvertible {
    case malformedDetails
    case invalidEvent(String)

    public var description: String {
        switch self {
        case .malformedDetails: "the decrypted details of an audit record are not the expected JSON"
        case .invalidEvent(let reason): "invalid audit event: \(reason)"
        }
    }
}
