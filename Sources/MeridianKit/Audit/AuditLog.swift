import Foundation
import SQLKit

/// When a checkpoint signs the chain head: after `everyRecords` records since the last one, or on the first
/// append `everySeconds` after it (and `AuditCheckpointer` signs an idle head on that interval too).
public struct AuditCheckpointPolicy: Sendable, Equatable {
    public var everyRecords: Int
    public var everySeconds: TimeInterval

    public init(everyRecords: Int, everySeconds: TimeInterval) {
        precondition(everyRecords >= 1 && everySeconds > 0, "checkpoint intervals must be positive")
        self.everyRecords = everyRecords
        self.everySeconds = everySeconds
    }

    public static let standard = AuditCheckpointPolicy(everyRecords: 1000, everySeconds: 300)
}

/// A service's tamper-evident audit log (docs/audit.md). Records are appended in the caller's transaction, so
/// a record exists exactly when its mutation committed; appends are serialised per service (SQLite has one
/// writer, PostgreSQL takes a transaction-scoped advisory lock), so the hash chain stays linear.
public struct AuditLog: Sendable {
    public let service: String
    public let cipher: FieldCipher
    public let checkpoints: AuditCheckpointPolicy
    let now: @Sendable () -> Date

    /// The columns holding `cipher` ciphertext, for key rotation and the plaintext-column test.
    public static let encryptedColumns = [
        EncryptedColumn(table: AuditRecord.table, column: AuditRecord.detailsColumn, idColumn: "id"),
        EncryptedColumn(table: AuditSigningKey.table, column: "private_key", idColumn: "id"),
    ]

    public init(
        service: String, cipher: FieldCipher, checkpoints: AuditCheckpointPolicy = .standard,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.service = service
        self.cipher = cipher
        self.checkpoints = checkpoints
        self.now = now
    }

    /// Appends in the caller's transaction (the same `SQLDatabase` the mutation used): hash-chained, change set
    /// encrypted with the service's FieldCipher. Call it last in the transaction: on PostgreSQL it holds the
    /// service's append lock until commit.
    public func append(_ event: AuditEvent, actor: AuditActor, on db: any SQLDatabase) async throws {
        guard AuditLog.isValidAction(event.action) else {
            throw AuditLogError.invalidEvent("action \"\(event.action)\" is not <resource>.<verb> in lower case")
        }
        guard !event.resourceType.isEmpty else { throw AuditLogError.invalidEvent("the resource type is empty") }
        try await AuditLog.lock(db)
        let head = try await AuditLog.head(db)
        let sequence = (head?.sequence ?? 0) + 1
        let previousHash = head?.hash ?? AuditRecord.genesisHash
        let id = Identifier.make(prefix: "aud")
        let occurredAt = Timestamp.micros(now())
        let roles = actor.roles.joined(separator: ",")
        let details = AuditDetails(changes: event.changes, sourceAddress: actor.sourceAddress).serialized()
        let sealed = try cipher.sealBytes(details, table: AuditRecord.table, column: AuditRecord.detailsColumn, rowID: id)
        let hash = AuditRecord.hash(
            service: service, id: id, occurredAt: occurredAt, actorSub: actor.subject, actorClientID: actor.clientID,
            actorRoles: roles, action: event.action, resourceType: event.resourceType, resourceID: event.resourceID,
            requestID: actor.requestID, traceID: actor.traceID, outcome: event.outcome.rawValue, details: details,
            previousHash: previousHash)
        try await db.insert(into: AuditRecord.table).columns(AuditRecord.columns)
            .values(
                SQLBind(sequence), SQLBind(id), SQLBind(occurredAt), SQLBind(actor.subject), SQLBind(actor.clientID),
                SQLBind(roles), SQLBind(event.action), SQLBind(event.resourceType), SQLBind(event.resourceID),
                SQLBind(actor.requestID), SQLBind(actor.traceID), SQLBind(event.outcome.rawValue), SQLBind(sealed),
                SQLBind(previousHash), SQLBind(hash)
            ).run()
        if try await checkpointDue(head: sequence, db) {
            try await writeCheckpoint(sequence: sequence, hash: hash, db)
        }
    }

    /// Appends with the caller of the request being handled (`AuditActor.current`), or this service as a
    /// background job when no request is.
    public func append(_ event: AuditEvent, on db: any SQLDatabase) async throws {
        try await append(event, actor: AuditActor.current ?? .system(service), on: db)
    }

    /// Signs the current head unless the latest checkpoint already covers it; returns the checkpoint written.
    /// Runs in the caller's transaction.
    @discardableResult
    public func checkpoint(on db: any SQLDatabase) async throws -> AuditCheckpoint? {
        try await AuditLog.lock(db)
        guard let head = try await AuditLog.head(db) else { return nil }
        if let last = try await AuditCheckpoint.latest(db), last.sequence >= head.sequence { return nil }
        return try await writeCheckpoint(sequence: head.sequence, hash: head.hash, db)
    }

    @discardableResult
    private func writeCheckpoint(sequence: Int64, hash: String, _ db: any SQLDatabase) async throws -> AuditCheckpoint {
        let key = try await AuditSigningKey.current(cipher: cipher, now: now(), db)
        let signedAt = Timestamp.micros(now())
        let unsigned = AuditCheckpoint(
            sequence: sequence, headHash: hash, signedAt: signedAt, keyID: key.id, signature: "")
        let signature = try key.privateKey.signature(for: unsigned.signedMessage(service: service))
        let checkpoint = AuditCheckpoint(
            sequence: sequence, headHash: hash, signedAt: signedAt, keyID: key.id,
            signature: signature.base64EncodedString())
        try await checkpoint.insert(db)
        return checkpoint
    }

    private func checkpointDue(head: Int64, _ db: any SQLDatabase) async throws -> Bool {
        let nowMicros = Timestamp.micros(now())
        let intervalMicros = Int64(checkpoints.everySeconds * 1_000_000)
        if let last = try await AuditCheckpoint.latest(db) {
            return head - last.sequence >= Int64(checkpoints.everyRecords) || nowMicros - last.signedAt >= intervalMicros
        }
        if head >= Int64(checkpoints.everyRecords) { return true }
        let first = try await db.select().column("occurred_at").from(AuditRecord.table)
            .orderBy("sequence").limit(1).first()?.decode(column: "occurred_at", as: Int64.self)
        return first.map { nowMicros - $0 >= intervalMicros } ?? false
    }

    /// Serialises appends of this service until the transaction ends. SQLite's single writer already does.
    static func lock(_ db: any SQLDatabase) async throws {
        guard db.dialect.name == "postgresql" else { return }
        try await db.raw("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.audit_log'))").run()
    }

    static func head(_ db: any SQLDatabase) async throws -> (sequence: Int64, hash: String)? {
        guard
            let row = try await db.select().columns("sequence", "hash").from(AuditRecord.table)
                .orderBy("sequence", .descending).limit(1).first()
        else { return nil }
        return (try row.decode(column: "sequence", as: Int64.self), try row.decode(column: "hash", as: String.self))
    }

    /// `<resource>.<verb>`: lower-case letters and underscores, dot-separated, at most 64 characters.
    static func isValidAction(_ action: String) -> Bool {
        let parts = action.split(separator: ".", omittingEmptySubsequences: false)
        return action.utf8.count <= 64 && parts.count >= 2
            && parts.allSatisfy { part in
                !part.isEmpty && part.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || $0 == UInt8(ascii: "_") }
            }
    }
}
