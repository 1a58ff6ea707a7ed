import Foundation
import Logging
import SQLKit

/// The offline key operations of `meridian keys …` on one service's database (the database service must be
/// running; the service itself may be stopped or running elsewhere).
public struct KeyAdministration: Sendable {
    public let service: String
    public let database: any Database
    public let masterKey: MasterKey

    public init(service: String, database: any Database, masterKey: MasterKey) {
        self.service = service
        self.database = database
        self.masterKey = masterKey
    }

    /// Makes a new data key primary and returns its version. Running services seal with it after their next
    /// key reload (within `KeyRotation`'s interval) and their rotation job re-encrypts the older values.
    public func rotate() async throws -> Int64 {
        // Also proves the master key is the right one before anything changes.
        try await FieldCipher(service: service, database: database, masterKey: masterKey).load()
        return try await database.transaction { sql in
            try await DataKeyStore.rotate(service: service, master: masterKey, sql)
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
            logger: Logger(label: service)
        ).status()
    }

    /// Re-wraps every stored key of the service under `newMasterKey`, in one transaction; no value is
    /// re-encrypted. Returns how many keys were re-wrapped. Afterwards only `newMasterKey` opens them.
    public func rotateMaster(to newMasterKey: MasterKey) async throws -> Int {
        try await database.transaction { sql in
            try await DataKeyStore.rewrap(service: service, from: masterKey, to: newMasterKey, sql)
        }
    }
}
