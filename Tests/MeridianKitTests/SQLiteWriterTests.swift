import Foundation
import Logging
import MeridianKit
import MeridianTestSupport
import SQLKit
import Testing

/// A SQLite transaction's body can run statements straight on the writer connection: every kind of value goes
/// in and comes back as it was, in the transaction (a failure rolls it back with the rest).
@Suite struct SQLiteWriterTests {
    static let table = Migration(
        "create_values", statements: ["CREATE TABLE kinds (id INTEGER PRIMARY KEY, n BIGINT, r REAL, t TEXT, b BLOB)"])

    @Test func valuesRoundTripAndReturningAnswersRows() async throws {
        try await withDatabase(.sqlite) { database in
            try await Migrator(database: database, migrations: [Self.table], logger: Logger(label: "t")).run()
            let bytes = Data([0, 1, 2, 255])
            let rows: [[SQLValue]] = [
                [.integer(1), .integer(-42), .real(2.5), .text("zürich"), .blob(bytes)],
                [.integer(2), .null, .null, .null, .null],
            ]
            let returned = try await database.transaction { sql in
                let writer = try #require(sql as? SQLiteWriter)
                return try await writer.query(
                    "INSERT INTO kinds (id, n, r, t, b) VALUES (?,?,?,?,?), (?,?,?,?,?) RETURNING id", rows.flatMap { $0 })
            }
            #expect(returned == [[.integer(1)], [.integer(2)]])
            let read = try await database.transaction { sql in
                try await #require(sql as? SQLiteWriter).query("SELECT id, n, r, t, b FROM kinds ORDER BY id", [])
            }
            #expect(read == rows)
            #expect(try read[0][4].blob() == bytes)
            #expect(try read[1][4].optionalBlob() == nil)
            #expect(throws: SQLValue.WrongType.self) { try read[0][3].integer() }
        }
    }

    @Test func aFailingStatementRollsBackTheTransaction() async throws {
        try await withDatabase(.sqlite) { database in
            try await Migrator(database: database, migrations: [Self.table], logger: Logger(label: "t")).run()
            await #expect(throws: (any Error).self) {
                try await database.transaction { sql in
                    let writer = try #require(sql as? SQLiteWriter)
                    _ = try await writer.query("INSERT INTO kinds (id, t) VALUES (?, ?)", [.integer(1), .text("kept?")])
                    _ = try await writer.query("INSERT INTO kinds (id, t) VALUES (?, ?)", [.integer(1), .text("again")])
                }
            }
            let count = try await database.read { sql in
                try await sql.raw("SELECT COUNT(*) AS n FROM kinds").first()?.decode(column: "n", as: Int.self)
            }
            #expect(count == 0)
        }
    }
}
