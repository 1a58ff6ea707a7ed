import Foundation
import Logging
import MeridianKit
import MeridianTestSupport
import SQLKit
import Synchronization
import Testing

/// `db_pool_connections_in_use`, `db_pool_connections_max` and `db_pool_wait_seconds`, read the way Prometheus
/// reads them: from the service registry's exposition.
@Suite struct DatabasePoolMetricsTests {
    struct Boom: Error {}

    /// The value of the sample `name{engine="…"}`, or nil when the exposition lacks it.
    static func sample(_ name: String, _ engine: DatabaseEngine, in metrics: ServiceMetrics) -> Double? {
        let prefix = #"\#(name){engine="\#(engine.rawValue)"} "#
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
    }

    static func inUse(_ engine: DatabaseEngine, _ metrics: ServiceMetrics) -> Double? {
        sample("db_pool_connections_in_use", engine, in: metrics)
    }

    static func exported(_ database: any Database) -> ServiceMetrics {
        let metrics = ServiceMetrics(service: "kit")
        metrics.exportPoolUsage(of: database)
        return metrics
    }

    @Test(arguments: TestDatabase.engines)
    func theGaugesAreTypedAndTheCapacityIsThePools(_ engine: DatabaseEngine) async throws {
        try await withDatabase(engine) { database async throws in
            let metrics = Self.exported(database)
            let text = String(decoding: metrics.exposition(), as: UTF8.self)
            #expect(text.contains("# TYPE db_pool_connections_in_use gauge"))
            #expect(text.contains("# TYPE db_pool_connections_max gauge"))
            #expect(text.contains("# TYPE db_pool_wait_seconds histogram"))
            #expect(Self.inUse(engine, metrics) == 0)
            // SQLite: the writer and two readers; PostgreSQL: the URL's `pool_size`, 16 when absent.
            #expect(Self.sample("db_pool_connections_max", engine, in: metrics) == (engine == .sqlite ? 3 : 16))
        }
    }

    @Test(arguments: TestDatabase.engines)
    func inUseRisesDuringATransactionAndReturnsToZeroAfter(_ engine: DatabaseEngine) async throws {
        try await withDatabase(engine) { database async throws in
            let metrics = Self.exported(database)
            let during = try await database.transaction { sql in
                try await sql.raw("SELECT 1").run()
                return Self.inUse(engine, metrics)
            }
            #expect(during == 1)
            #expect(Self.inUse(engine, metrics) == 0)
            #expect(Self.sample("db_pool_wait_seconds_count", engine, in: metrics) == 1)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func inUseReturnsToZeroWhenTheTransactionThrows(_ engine: DatabaseEngine) async throws {
        try await withDatabase(engine) { database async throws in
            let metrics = Self.exported(database)
            let seen = Mutex<Double?>(nil)
            await #expect(throws: Boom.self) {
                try await database.transaction { sql in
                    try await sql.raw("SELECT 1").run()
                    seen.withLock { $0 = Self.inUse(engine, metrics) }
                    throw Boom()
                }
            }
            #expect(seen.withLock { $0 } == 1)
            #expect(Self.inUse(engine, metrics) == 0)
            // The connection is usable again: the failed transaction was rolled back and its lease returned.
            #expect(try await database.transaction { _ in Self.inUse(engine, metrics) } == 1)
            #expect(Self.inUse(engine, metrics) == 0)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func inUseReturnsToZeroWhenTheTransactionIsCancelled(_ engine: DatabaseEngine) async throws {
        try await withDatabase(engine) { database async throws in
            try await Migrator(database: database, migrations: [itemsMigration], logger: Logger(label: "t")).run()
            let metrics = Self.exported(database)
            let (started, startedSignal) = AsyncStream.makeStream(of: Void.self)
            let task = Task {
                try await database.transaction { sql in
                    try await sql.insert(into: "items").columns("id", "n").values(SQLBind("cancelled"), SQLBind(1)).run()
                    startedSignal.yield()
                    // Suspends until the task is cancelled, then throws CancellationError.
                    try await Task.sleep(for: .seconds(3600))
                }
            }
            for await _ in started { break }
            #expect(Self.inUse(engine, metrics) == 1)
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(Self.inUse(engine, metrics) == 0)
            // The cancelled transaction was rolled back and its connection returned: the next one commits, and
            // without the cancelled one's row.
            #expect(try await database.transaction { _ in Self.inUse(engine, metrics) } == 1)
            #expect(Self.inUse(engine, metrics) == 0)
            let ids = try await database.read { sql in
                try await sql.select().column("id").from("items").all().map { try $0.decode(column: "id", as: String.self) }
            }
            #expect(ids.isEmpty)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func concurrentLeasesAreEachCounted(_ engine: DatabaseEngine) async throws {
        try await withDatabase(engine) { database async throws in
            let metrics = Self.exported(database)
            // A read runs beside an open transaction on both engines (a SQLite reader beside the writer, a second
            // pooled PostgreSQL connection), so while both hold their connection the gauge reads 2.
            let during = try await database.transaction { _ in
                try await database.read { sql in
                    try await sql.raw("SELECT 1").run()
                    return Self.inUse(engine, metrics)
                }
            }
            #expect(during == 2)
            #expect(Self.inUse(engine, metrics) == 0)
        }
    }
}
