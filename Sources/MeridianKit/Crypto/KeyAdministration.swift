import Foundation
import Logging
import SQLKit

/// The offline key operations of `meridian keys …` on one service's database (the database service must be
/// running; the service itself may be stopped or running elsewhere). Each change is audited in the service's
/// own log, in the transaction that makes it, with the actor a background job of the service would have
/// (`AuditActor.system`), as the users service's offline admin verbs do.
public struct KeyAdministration: Sendable {
    public let service: String
    public let database: any Database
    public let masterKey: MasterKey
    /// The service's checkpoint policy (`audit.checkpoint.*`), so records appended here are signed on the same
    /// schedule as the service's own.
    public let checkpoints: AuditCheckpointPolicy

    public init(
        service: String, database: any Database, masterKey: MasterKey, checkpoints: AuditCheckpointPolicy = .standard
    ) {
        self.service = service
        self.database = database
        self.masterKey = masterKey
        self.checkpoints = checkpoints
    }

    /// Makes a new data key primary and returns its version. Running services seal with it after their next
    /// key reload (within `KeyRotation`'s interval) and their rotation job re-encrypts the older values.
    public func rotate() async throws -> Int64 {
        // Also proves the master key is the right one before anything changes. The audit record is sealed
        // under the previous primary key: the new one exists only inside the transaction, and the rotation job
        // re-encrypts the record with every other value.
        let audit = try await auditLog()
        return try await database.transaction { sql in
            let rotation = try await DataKeyStore.rotate(service: service, master: masterKey, sql)
            try await audit.append(
                KeyAudit.dataKeyRotated(previous: rotation.previous, primary: rotation.version), on: sql)
            return rotation.version
        }
    }

    /// Key versions, their states and, per encrypted column the service's rotation job has seen, how many
    /// values are not yet on the primary key.
    public func status() async throws -> KeyRotationStatus {
        let columns = try await database.read { sql in
            try await sql.select().columns("table_name", "column_name").from("meridian_reencryption")
                .orderBy("table_name").orderBy("column_name").all()
                .map {
                    EncryptedColumn(
                        table: try $0.decode(column: "table_name", as: String.self),
                        column: try $0.decode(column: "column_name", as: String.self))
                }
        }
        let cipher = FieldCipher(service: service, database: database, masterKey: masterKey)
        return try await KeyRotation(
            cipher: cipher, database: database, columns: columns, metrics: ServiceMetrics(service: service),
            audit: AuditLog(service: service, cipher: cipher), logger: Logger(label: service)
        ).status()
    }

    /// Re-wraps every stored key of the service under `newMasterKey`, in one transaction; no value is
    /// re-encrypted. Returns how many keys were re-wrapped. Afterwards only `newMasterKey` opens them.
    public func rotateMaster(to newMasterKey: MasterKey) async throws -> Int {
        // The data keys themselves do not change, so the record sealed with them opens under the new master too.
        let audit = try await auditLog()
        return try await database.transaction { sql in
            let count = try await DataKeyStore.rewrap(service: service, from: masterKey, to: newMasterKey, sql)
            try await audit.append(
                KeyAudit.masterKeyRotated(from: masterKey, to: newMasterKey, rewrapped: count), on: sql)
            return count
        }
    }

    /// The service's audit log over a cipher loaded with the current keys (it seals each record's details).
    private func auditLog() async throws -> AuditLog {
        let cipher = FieldCipher(service: service, database: database, masterKey: masterKey)
        try await cipher.load(checkpoints: checkpoints)
        return AuditLog(service: service, cipher: cipher, checkpoints: checkpoints)
    }
}
