import Foundation
import Logging
import MeridianKit

/// The databases every repository and route test runs on: a fresh SQLite file always, and a fresh schema in a
/// real PostgreSQL when `MERIDIAN_TEST_POSTGRES_URL` is set (the test command sets it).
public enum TestDatabase {
    public static var engines: [DatabaseEngine] {
        ProcessInfo.processInfo.environment["MERIDIAN_TEST_POSTGRES_URL"] == nil ? [.sqlite] : [.sqlite, .postgres]
    }

    /// A database URL no other test uses.
    public static func url(_ engine: DatabaseEngine, service: String = "test") -> String {
        let unique = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        switch engine {
        case .sqlite:
            return temporaryDirectory() + "/\(service)-\(unique).sqlite"
        case .postgres:
            let base = ProcessInfo.processInfo.environment["MERIDIAN_TEST_POSTGRES_URL"]!
            let separator = base.contains("?") ? "&" : "?"
            return base + separator + "schema=t_\(service)_\(unique)"
        }
    }

    /// A directory for this test run's files, removed by nobody: it lives under the system temp directory.
    public static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "meridian-tests-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Drops the PostgreSQL schema `url` names (a SQLite file stays in the temporary directory), through a client
    /// of its own. Call it once the service that used the schema has stopped: `DROP SCHEMA … CASCADE` locks every
    /// table one after another, and a background job of a running service (the key rotation, the outbox
    /// dispatcher) that holds one of them while it waits for another deadlocks with it, failing the drop.
    public static func drop(_ url: String) async throws {
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else { return }
        var logger = Logger(label: "test-database")
        logger.logLevel = .critical
        guard let database = try openDatabase(url: url, schema: "", logger: logger) as? PostgresDatabase else { return }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await database.run() }
            defer { group.cancelAll() }
            try await database.dropSchema()
        }
    }
}
