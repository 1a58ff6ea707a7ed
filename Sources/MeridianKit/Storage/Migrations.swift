import Foundation
import Logging
import SQLKit

/// One named, ordered schema change. `apply` runs inside the migration's transaction.
public struct Migration: Sendable {
    public let name: String
    public let apply: @Sendable (any SQLDatabase, DatabaseEngine) async throws -> Void

    public init(_ name: String, apply: @escaping @Sendable (any SQLDatabase, DatabaseEngine) async throws -> Void) {
        self.name = name
        self.apply = apply
    }

    /// A migration written as plain SQL statements valid on both engines.
    public init(_ name: String, statements: [String]) {
        self.init(name) { sql, _ in
            for statement in statements { try await sql.raw(SQLQueryString(statement)).run() }
        }
    }
}

/// Applies migrations in order, recording each in `meridian_migrations`, each in its own transaction with the
/// record. On PostgreSQL an advisory lock keeps replicas that start together from racing.
public struct Migrator: Sendable {
    public let database: any Database
    public let migrations: [Migration]
    public let logger: Logger

    public init(database: any Database, migrations: [Migration], logger: Logger) {
        self.database = database
        self.migrations = migrations
        self.logger = logger
    }

    @discardableResult
    public func run() async throws -> [String] {
        if let postgres = database as? PostgresDatabase { try await postgres.createSchema() }
        try await database.transaction { sql in
            try await sql.raw(
                "CREATE TABLE IF NOT EXISTS meridian_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)"
            ).run()
        }
        var applied: [String] = []
        for migration in migrations {
            let didApply = try await database.transaction { sql -> Bool in
                if database.engine == .postgres {
                    try await sql.raw("SELECT pg_advisory_xact_lock(hashtext(current_schema()))").run()
                }
                let done = try await sql.select().column("name").from("meridian_migrations")
                    .where("name", .equal, migration.name).first()
                if done != nil { return false }
                try await migration.apply(sql, database.engine)
                try await sql.insert(into: "meridian_migrations").columns("name", "applied_at")
                    .values(SQLBind(migration.name), SQLBind(Timestamp.micros(Date()))).run()
                return true
            }
            if didApply {
                applied.append(migration.name)
                logger.info("applied migration", metadata: ["migration": .string(migration.name)])
            }
        }
        return applied
    }

    /// Names of the migrations already recorded.
    public func appliedNames() async throws -> [String] {
        try await database.read { sql in
            try await sql.select().column("name").from("meridian_migrations").orderBy("applied_at").all()
                .map { try $0.decode(column: "name", as: String.self) }
        }
    }
}
