import Foundation
import Logging
import MeridianKit
import MeridianTestSupport
import SQLKit
import ServiceLifecycle
import Testing

/// Runs `body` with the database service running, as the service group would.
func withDatabase<T: Sendable>(
    _ engine: DatabaseEngine, _ body: @Sendable (any Database) async throws -> T
) async throws -> T {
    let database = try openDatabase(url: TestDatabase.url(engine), schema: "kit", logger: Logger(label: "test"))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await database.run() }
        defer { group.cancelAll() }
        return try await body(database)
    }
}

let itemsMigration = Migration(
    "create_items", statements: ["CREATE TABLE items (id TEXT PRIMARY KEY, n BIGINT NOT NULL)"])

@Suite struct DatabaseTests {
    @Test(arguments: TestDatabase.engines)
    func migrationsRunOnceAndAreRecorded(_ engine: DatabaseEngine) async throws {
        try await withDatabase(engine) { database async throws in
            let migrator = Migrator(database: database, migrations: [itemsMigration], logger: Logger(label: "t"))
            #expect(try await migrator.run() == ["create_items"])
            #expect(try await migrator.run() == [])
            #expect(try await migrator.appliedNames() == ["create_items"])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func transactionsCommitOrRollBackWhole(_ engine: DatabaseEngine) async throws {
        struct Boom: Error {}
        try await withDatabase(engine) { database async throws in
            try await Migrator(database: database, migrations: [itemsMigration], logger: Logger(label: "t")).run()
            try await database.transaction { sql in
                try await sql.insert(into: "items").columns("id", "n").values(SQLBind("a"), SQLBind(1)).run()
            }
            await #expect(throws: Boom.self) {
                try await database.transaction { sql in
                    try await sql.insert(into: "items").columns("id", "n").values(SQLBind("b"), SQLBind(2)).run()
                    throw Boom()
                }
            }
            let ids = try await database.read { sql in
                try await sql.select().column("id").from("items").all().map { try $0.decode(column: "id", as: String.self) }
            }
            #expect(ids == ["a"])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func concurrentTransactionsAllCommit(_ engine: DatabaseEngine) async throws {
        try await withDatabase(engine) { database async throws in
            try await Migrator(database: database, migrations: [itemsMigration], logger: Logger(label: "t")).run()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        try await database.transaction { sql in
                            try await sql.insert(into: "items").columns("id", "n")
                                .values(SQLBind("k\(index)"), SQLBind(index)).run()
                        }
                    }
                }
                try await group.waitForAll()
            }
            let count = try await database.read { sql in
                try await sql.raw("SELECT COUNT(*) AS c FROM items").first()!.decode(column: "c", as: Int.self)
            }
            #expect(count == 50)
        }
    }

    @Test func sqliteIsDurableAndPrivate() async throws {
        let path = TestDatabase.url(.sqlite)
        let database = try SQLiteDatabase(path: path, logger: Logger(label: "t"))
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let (journal, synchronous, cache, tempStore, checkpoint) = try await database.transaction { sql in
            (
                try await sql.raw("PRAGMA journal_mode").first()!.decode(column: "journal_mode", as: String.self),
                try await sql.raw("PRAGMA synchronous").first()!.decode(column: "synchronous", as: Int.self),
                try await sql.raw("PRAGMA cache_size").first()!.decode(column: "cache_size", as: Int.self),
                try await sql.raw("PRAGMA temp_store").first()!.decode(column: "temp_store", as: Int.self),
                try await sql.raw("PRAGMA wal_autocheckpoint").first()!.decode(column: "wal_autocheckpoint", as: Int.self)
            )
        }
        #expect(journal == "wal")
        #expect(synchronous == 2)  // FULL
        #expect(cache == -65_536)  // the writer's 64 MB page cache
        #expect(tempStore == 2)  // MEMORY: statement journals are not written to temporary files
        #expect(checkpoint == 8_000)  // pages of WAL between automatic checkpoints
        let walMode = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.posixPermissions] as? NSNumber
        #expect(walMode?.intValue == 0o600)
        await database.close()
    }

    @Test func databaseURLsAreParsed() throws {
        guard case .sqlite(let path) = try DatabaseLocation("data/users.sqlite") else {
            Issue.record("expected sqlite")
            return
        }
        #expect(path == "data/users.sqlite")
        guard case .postgres(let configuration) = try DatabaseLocation("postgres://me:p%40ss@db:6543/app?sslmode=require")
        else {
            Issue.record("expected postgres")
            return
        }
        #expect(configuration.host == "db")
        #expect(configuration.port == 6543)
        #expect(configuration.username == "me")
        #expect(configuration.password == "p@ss")
        #expect(configuration.database == "app")
        #expect(DatabaseLocation.schema(in: "postgres://a@b/c?schema=orders") == "orders")
        #expect(throws: DatabaseLocation.InvalidURL.self) { try DatabaseLocation("mysql://x@y/z") }
        #expect(throws: DatabaseLocation.InvalidURL.self) { try DatabaseLocation("postgres://x@y/z?sslmode=bogus") }
    }
}

@Suite struct PostgresInputTests {
    /// PostgreSQL cannot store a NUL in text; that is the caller's input, so it must surface as a 400 problem.
    @Test(arguments: TestDatabase.engines.filter { $0 == .postgres })
    func valuesPostgresCannotStoreAreA400(_ engine: DatabaseEngine) async throws {
        try await withDatabase(engine) { database async throws in
            try await Migrator(database: database, migrations: [itemsMigration], logger: Logger(label: "t")).run()
            do {
                _ = try await database.read { sql in
                    try await sql.select().column("id").from("items").where("id", .equal, SQLBind("a\u{0}b")).all()
                }
                Issue.record("expected a problem")
            } catch let problem as Problem {
                #expect(problem.status == .badRequest)
            }
            await #expect(throws: Problem.self) {
                try await database.transaction { sql in
                    try await sql.insert(into: "items").columns("id", "n").values(SQLBind("x\u{0}"), SQLBind(1)).run()
                }
            }
        }
    }
}
