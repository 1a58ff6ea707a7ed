import Foundation
import Logging
import MeridianKit
import MeridianTestSupport
import SQLKit
import Testing

/// `meridian audit verify`, the binary this package builds, on the database a live platform wrote: it calls an
/// intact chain intact and exits 0; after one record is edited in the database behind Meridian's back, it exits
/// 1 and names that record.
@Suite struct AuditVerifyCommandTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test(arguments: TestDatabase.engines)
    func namesTheRecordEditedInTheDatabase(_ engine: DatabaseEngine) async throws {
        let binary = Self.repository.appendingPathComponent(".build/debug/meridian").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build meridian first (swift build)")
        let databases = Platform.Databases.fresh(engine)
        let userID = try await Platform.run(databases) { platform in
            let created = try await platform.admin.send(
                .POST, "/api/users",
                json: #"{"email": "audited@example.com", "name": "Audited", "password": "correct horse battery"}"#)
            #expect(created.status == 201)
            return try #require(created.json["id"] as? String)
        }
        let url = try #require(databases.urls["users"])
        let command = VerifyCommand(binary: binary, databaseURL: url, masterKey: databases.masterKey)

        let intact = try await command.run()
        #expect(intact.status == 0, "\(intact.output)")
        #expect(intact.output.hasPrefix("users: intact"), "\(intact.output)")

        // The record of the account's creation now claims another account.
        let (sequence, recordID) = try await Self.withDatabase(url) { database in
            try await database.transaction { sql in
                let row = try #require(
                    try await sql.raw(
                        "SELECT sequence, id FROM audit_log WHERE resource_id = \(bind: userID) ORDER BY sequence LIMIT 1"
                    ).first())
                let sequence = try row.decode(column: "sequence", as: Int64.self)
                try await sql.raw(
                    "UPDATE audit_log SET resource_id = 'usr_someone_else' WHERE sequence = \(bind: sequence)"
                ).run()
                return (sequence, try row.decode(column: "id", as: String.self))
            }
        }
        let broken = try await command.run()
        #expect(broken.status == 1, "\(broken.output)")
        #expect(broken.output.contains("users: BROKEN at modified: record \(sequence) (\(recordID))"), "\(broken.output)")
    }

    /// Runs `body` on the database at `url` with its service running, then stops it.
    static func withDatabase<T: Sendable>(
        _ url: String, _ body: @Sendable (any Database) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "audit-verify-test")
        logger.logLevel = .critical
        let database = try openDatabase(url: url, schema: "users", logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await database.run(); return nil }
            defer { group.cancelAll() }
            return try await body(database)
        }
    }
}

/// One run of `meridian audit verify --service users` with the platform's master key.
struct VerifyCommand: Sendable {
    let binary: String
    let databaseURL: String
    let masterKey: MasterKey

    func run() async throws -> MeridianCLI.Outcome {
        try await MeridianCLI(binary: binary, databaseURL: databaseURL)
            .run(["audit", "verify", "--service", "users"], masterKey: masterKey)
    }
}
