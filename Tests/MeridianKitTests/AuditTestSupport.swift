import Foundation
import Logging
@testable import MeridianKit
import MeridianTestSupport
import SQLKit
import Synchronization

/// A running database with the audit and key tables, a loaded cipher and an audit log over them.
struct AuditFixture: Sendable {
    let database: any Database
    let cipher: FieldCipher
    let log: AuditLog
    let clock: TestClock

    static let service = "auditkit"

    @discardableResult
    static func with<T: Sendable>(
        _ engine: DatabaseEngine, checkpoints: AuditCheckpointPolicy = .standard,
        _ body: @Sendable (AuditFixture) async throws -> T
    ) async throws -> T {
        try await withDatabase(engine) { database in
            try await Migrator(
                database: database, migrations: CryptoMigrations.all + AuditMigrations.all, logger: Logger(label: "t")
            ).run()
            let cipher = FieldCipher(service: service, database: database, masterKey: TestMasterKey.make())
            try await cipher.load()
            // The chain tests start from an empty log: the records of the keys `load()` just created are
            // CryptoKeyAuditTests' subject. With them gone the next append is sequence 1 on the genesis hash.
            try await database.transaction { sql in try await sql.delete(from: AuditRecord.table).run() }
            let clock = TestClock()
            let log = AuditLog(service: service, cipher: cipher, checkpoints: checkpoints, now: { clock.now })
            return try await body(AuditFixture(database: database, cipher: cipher, log: log, clock: clock))
        }
    }

    static let actor = AuditActor(
        subject: "usr_alice", clientID: "cli_web", roles: ["customer"], requestID: "req_1",
        traceID: "4bf92f3577b34da6a3ce929d0e0e4736", sourceAddress: "203.0.113.7 via 127.0.0.1")

    /// Appends `count` records, each in its own transaction, numbered in their resource ids.
    func append(_ count: Int, action: String = "order.update") async throws {
        for index in 0..<count {
            try await database.transaction { sql in
                try await log.append(
                    AuditEvent(
                        action: action, resourceType: "order", resourceID: "ord_\(index)",
                        changes: .object(["status": .string("paid"), "n": .integer(Int64(index))])),
                    actor: AuditFixture.actor, on: sql)
            }
        }
    }

    func verify() async throws -> AuditVerification {
        try await AuditVerifier(service: AuditFixture.service, database: database, cipher: cipher, batchSize: 3).verify()
    }

    func execute(_ statement: String) async throws {
        try await database.transaction { sql in try await sql.raw(SQLQueryString(statement)).run() }
    }

    func records() async throws -> [AuditRecord.Stored] {
        try await database.read { sql in
            try await sql.select().columns(AuditRecord.columns).from(AuditRecord.table).orderBy("sequence").all()
                .map(AuditRecord.decode)
        }
    }
}

/// A clock tests move by hand.
final class TestClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 += seconds } }
}
