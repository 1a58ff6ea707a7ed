import Foundation
import Logging
import MeridianKit
import MeridianTestSupport
import Orders
import SQLKit
import Testing
import Users

@testable import Analytics
@testable import Notifications

/// Migrates each service's database and fails when a column exists that is neither ciphertext (one of the
/// service's `EncryptedColumn`s) nor listed, with its reason, in the README's "Plaintext at rest" table.
///
/// Table-driven: each service converted to encryption at rest adds an entry to `services`.
@Suite struct PlaintextColumnsTests {
    struct Subject: Sendable {
        let service: String
        /// The migrated database and the service's encrypted columns.
        let open: @Sendable (ServiceSettings) throws -> (
            database: any Database, migrate: @Sendable () async throws -> Void, encrypted: [EncryptedColumn]
        )
    }

    static let services: [Subject] = [
        Subject(service: "users") { settings in
            let service = try UsersService(settings: settings, logger: Logger(label: "t"), bcryptCost: 4)
            return (service.database, { _ = try await service.migrate() }, service.keyRotation.columns)
        },
        Subject(service: "orders") { settings in
            // Users is never called: no order is placed.
            var settings = settings
            settings.serviceURLs = ["users": "http://127.0.0.1:1"]
            let service = try OrdersService(settings: settings, logger: Logger(label: "t"))
            return (service.database, { try await service.migrate() }, service.keyRotation.columns)
        },
        Subject(service: "notifications") { settings in
            // Users is never called: nothing is delivered.
            var settings = settings
            settings.serviceURLs = ["users": "http://127.0.0.1:1"]
            let service = try NotificationsService(
                settings: settings, logger: Logger(label: "t"), notifications: NotificationSettings())
            return (service.database, { _ = try await service.migrate() }, service.core.keyRotation.columns)
        },
        Subject(service: "analytics") { settings in
            var settings = settings
            settings.serviceURLs = ["users": "http://127.0.0.1:1"]
            let service = try AnalyticsService(settings: settings, logger: Logger(label: "t"))
            return (service.database, { _ = try await service.migrate() }, service.core.keyRotation.columns)
        },
    ]

    @Test(arguments: PlaintextColumnsTests.services.map(\.service))
    func everyPlaintextColumnIsListedInTheReadme(_ name: String) async throws {
        let subject = try #require(Self.services.first { $0.service == name })
        let allowed = try Self.readmePlaintextColumns()
        let settings = ServiceSettings(
            name: name, listen: ListenAddress(host: "127.0.0.1", port: 0),
            databaseURL: TestDatabase.url(.sqlite, service: name)
        ).withTestMasterKey()
        let (database, migrate, encrypted) = try subject.open(settings)
        let columns = try await withThrowingTaskGroup(of: [String].self) { group in
            group.addTask { try await database.run(); return [] }
            defer { group.cancelAll() }
            try await migrate()
            return try await Self.columns(of: database)
        }
        #expect(!columns.isEmpty)
        let ciphertext = Set(encrypted.map { "\($0.table).\($0.column)" })
        let unlisted = columns.filter { column in
            !ciphertext.contains(column) && !allowed.contains("\(name).\(column)") && !allowed.contains("*.\(column)")
        }
        #expect(unlisted == [], "plaintext columns of \(name) missing from README.md's 'Plaintext at rest' table")
        // Every declared ciphertext column exists (a typo there would hide a plaintext column).
        #expect(ciphertext.subtracting(columns) == [])
    }

    /// `table.column` of every column in a SQLite database.
    static func columns(of database: any Database) async throws -> [String] {
        try await database.read { sql in
            var result: [String] = []
            let tables = try await sql.raw(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).all().map { try $0.decode(column: "name", as: String.self) }
            for table in tables {
                for row in try await sql.raw("SELECT name FROM pragma_table_info(\(bind: table))").all() {
                    result.append("\(table).\(try row.decode(column: "name", as: String.self))")
                }
            }
            return result
        }
    }

    /// The first cells of the README's "Plaintext at rest" table: `service.table.column`, `*` for every service.
    static func readmePlaintextColumns() throws -> Set<String> {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        guard let start = text.range(of: "### Plaintext at rest") else { return [] }
        var columns: Set<String> = []
        for line in text[start.upperBound...].split(separator: "\n").dropFirst() {
            if line.hasPrefix("#") { break }
            guard line.hasPrefix("| `") else { continue }
            let cell = line.dropFirst(3).prefix { $0 != "`" }
            columns.insert(String(cell))
        }
        return columns
    }
}
