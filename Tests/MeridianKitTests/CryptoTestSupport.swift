import Foundation
import Logging
@testable import MeridianKit
import MeridianTestSupport
import SQLKit

/// A running database with the key and audit tables and one table of sealed values (`vault`), for the cipher
/// and rotation tests (key changes append audit records).
struct CryptoFixture: Sendable {
    let database: any Database
    let masterKey: MasterKey
    static let service = "cryptokit"
    static let column = EncryptedColumn(table: "vault", column: "secret")

    static func with<T: Sendable>(_ engine: DatabaseEngine, _ body: @Sendable (CryptoFixture) async throws -> T)
        async throws -> T
    {
        try await withDatabase(engine) { database in
            let vault = Migration("vault_create", ciphertextStatements: { ciphertext in
                ["CREATE TABLE vault (id TEXT PRIMARY KEY, secret \(ciphertext))"]
            })
            try await Migrator(
                database: database, migrations: [vault] + CryptoMigrations.all + AuditMigrations.all,
                logger: Logger(label: "t")
            ).run()
            return try await body(CryptoFixture(database: database, masterKey: TestMasterKey.make()))
        }
    }

    func cipher(_ key: MasterKey? = nil, service: String = CryptoFixture.service) async throws -> FieldCipher {
        let cipher = FieldCipher(service: service, database: database, masterKey: key ?? masterKey)
        try await cipher.load()
        return cipher
    }

    func rotation(_ cipher: FieldCipher, batchSize: Int = 200, grace: Duration = .zero) -> KeyRotation {
        KeyRotation(
            cipher: cipher, database: database, columns: [CryptoFixture.column],
            metrics: ServiceMetrics(service: CryptoFixture.service),
            audit: AuditLog(service: CryptoFixture.service, cipher: cipher), logger: Logger(label: "t"), batchSize: batchSize,
            interval: .milliseconds(10), retirementGrace: grace)
    }

    func put(_ id: String, _ value: String, with cipher: FieldCipher) async throws {
        let sealed = try cipher.seal(value, table: "vault", column: "secret", rowID: id)
        try await database.transaction { sql in
            try await sql.insert(into: "vault").columns("id", "secret").values(SQLBind(id), SQLBind(sealed))
                .onConflict(with: ["id"]) { $0.set(excludedValueOf: "secret") }.run()
        }
    }

    func sealedValues() async throws -> [String: Data] {
        try await database.read { sql in
            var values: [String: Data] = [:]
            for row in try await sql.select().columns("id", "secret").from("vault").all() {
                values[try row.decode(column: "id", as: String.self)] = try row.decode(column: "secret", as: Data.self)
            }
            return values
        }
    }

    func keyStates() async throws -> [Int64: String] {
        try await database.read { sql in
            Dictionary(
                uniqueKeysWithValues: try await DataKeyStore.rows(sql).filter { $0.purpose == "data" }
                    .map { ($0.version, $0.state) })
        }
    }
}
