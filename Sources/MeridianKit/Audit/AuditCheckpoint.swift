import Crypto
import Foundation
import SQLKit

/// A signed statement that the chain's record `sequence` had `headHash`.
public struct AuditCheckpoint: Sendable, Equatable {
    public let sequence: Int64
    public let headHash: String
    /// Microseconds since the epoch.
    public let signedAt: Int64
    public let keyID: String
    /// Ed25519 over `signedMessage(service:)`, base64.
    public let signature: String

    static let table = "audit_checkpoints"

    /// What the key signs: the service is part of it, so a checkpoint copied between services does not verify.
    func signedMessage(service: String) -> Data {
        Data("meridian-audit-checkpoint-v1\n\(service)\n\(sequence)\n\(headHash)\n\(signedAt)\n\(keyID)".utf8)
    }

    func insert(_ db: any SQLDatabase) async throws {
        try await db.insert(into: AuditCheckpoint.table)
            .columns("sequence", "head_hash", "signed_at", "key_id", "signature")
            .values(SQLBind(sequence), SQLBind(headHash), SQLBind(signedAt), SQLBind(keyID), SQLBind(signature))
            .run()
    }

    static func latest(_ db: any SQLDatabase) async throws -> AuditCheckpoint? {
        try await db.select().columns("sequence", "head_hash", "signed_at", "key_id", "signature").from(table)
            .orderBy("sequence", .descending).limit(1).first().map(decode)
    }

    static func all(_ db: any SQLDatabase) async throws -> [AuditCheckpoint] {
        try await db.select().columns("sequence", "head_hash", "signed_at", "key_id", "signature").from(table)
            .orderBy("sequence").all().map(decode)
    }

    static func decode(_ row: any SQLRow) throws -> AuditCheckpoint {
        AuditCheckpoint(
            sequence: try row.decode(column: "sequence", as: Int64.self),
            headHash: try row.decode(column: "head_hash", as: String.self),
            signedAt: try row.decode(column: "signed_at", as: Int64.self),
            keyID: try row.decode(column: "key_id", as: String.self),
            signature: try row.decode(column: "signature", as: String.self))
    }
}

/// The service's checkpoint signing key: Ed25519, the private half sealed by the service's field cipher (so
/// only a holder of the master key can sign), the public half stored beside it.
struct AuditSigningKey: Sendable {
    let id: String
    let privateKey: Curve25519.Signing.PrivateKey

    static let table = "audit_signing_keys"

    /// The newest key, made on first use. Called under the append lock, so two writers never both create one.
    static func current(cipher: FieldCipher, now: Date, _ db: any SQLDatabase) async throws -> AuditSigningKey {
        if let row = try await db.select().columns("id", "private_key").from(table)
            .orderBy("created_at", .descending).orderBy("id", .descending).limit(1).first()
        {
            let id = try row.decode(column: "id", as: String.self)
            let sealed = try row.decode(column: "private_key", as: Data.self)
            let raw = try cipher.openBytes(sealed, table: table, column: "private_key", rowID: id)
            return AuditSigningKey(id: id, privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: raw))
        }
        let key = Curve25519.Signing.PrivateKey()
        let id = Identifier.make(prefix: "ask", now: now)
        let sealed = try cipher.sealBytes(key.rawRepresentation, table: table, column: "private_key", rowID: id)
        try await db.insert(into: table).columns("id", "public_key", "private_key", "created_at")
            .values(
                SQLBind(id), SQLBind(key.publicKey.rawRepresentation.base64EncodedString()), SQLBind(sealed),
                SQLBind(Timestamp.micros(now))
            ).run()
        return AuditSigningKey(id: id, privateKey: key)
    }

    /// Every key's public half, checked against its sealed private half: a public key swapped in the database
    /// (to accept forged checkpoints) no longer matches what only the master key can open.
    static func verifiedPublicKeys(cipher: FieldCipher, _ db: any SQLDatabase) async throws
        -> [String: Result<Curve25519.Signing.PublicKey, AuditKeyProblem>]
    {
        var keys: [String: Result<Curve25519.Signing.PublicKey, AuditKeyProblem>] = [:]
        for row in try await db.select().columns("id", "public_key", "private_key").from(table).all() {
            let id = try row.decode(column: "id", as: String.self)
            let publicText = try row.decode(column: "public_key", as: String.self)
            let sealed = try row.decode(column: "private_key", as: Data.self)
            guard let publicRaw = Data(base64Encoded: publicText),
                let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: publicRaw)
            else {
                keys[id] = .failure(AuditKeyProblem(detail: "its public key is not an Ed25519 key"))
                continue
            }
            guard let raw = try? cipher.openBytes(sealed, table: table, column: "private_key", rowID: id),
                let privateKey = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
            else {
                keys[id] = .failure(AuditKeyProblem(detail: "its private key does not decrypt"))
                continue
            }
            guard privateKey.publicKey.rawRepresentation == publicKey.rawRepresentation else {
                keys[id] = .failure(AuditKeyProblem(detail: "its public key does not belong to its private key"))
                continue
            }
            keys[id] = .success(publicKey)
        }
        return keys
    }
}

struct AuditKeyProblem: Error, Sendable {
    let detail: String
}
