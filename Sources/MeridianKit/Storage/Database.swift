import Logging
import SQLKit
import ServiceLifecycle

public enum DatabaseEngine: String, Sendable {
    case sqlite
    case postgres
}

/// A service's database. One SQL code path (SQLKit) serves both engines; where they differ, branch on `engine`
/// in the repository's one place that needs it.
///
/// A `Database` is a `Service`: add it to the service group, which keeps its connections open until shutdown.
public protocol Database: Service {
    var engine: DatabaseEngine { get }
    /// Runs `body` outside a transaction: for reads that need no isolation from concurrent writes.
    func read<T: Sendable>(_ body: (any SQLDatabase) async throws -> T) async throws -> T
    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    func transaction<T: Sendable>(_ body: (any SQLDatabase) async throws -> T) async throws -> T
}

/// Opens the database a URL names: `postgres://…` (or `postgresql://…`) for PostgreSQL, otherwise a SQLite
/// file path (optionally `sqlite://` prefixed). `schema` isolates a service inside a shared PostgreSQL database;
/// a `?schema=` in the URL overrides it.
public func openDatabase(url: String, schema: String, logger: Logger) throws -> any Database {
    let location = try DatabaseLocation(url)
    switch location {
    case .sqlite(let path):
        return try SQLiteDatabase(path: path, logger: logger)
    case .postgres(let configuration):
        return PostgresDatabase(
            configuration: configuration, schema: DatabaseLocation.schema(in: url) ?? schema, logger: logger)
    }
}

/// Thrown when a row changed under an optimistic update; routes turn it into 409 or 412.
public struct ConcurrentUpdateError: Error, Sendable {
    public init() {}
}
