import Logging
import PostgresKit
import PostgresNIO
import SQLKit
import ServiceLifecycle

/// PostgreSQL through postgres-nio's pooled `PostgresClient`, each service in its own schema (set as the
/// connection's `search_path` at start-up, so queries name tables without a schema).
public final class PostgresDatabase: PooledDatabase {
    public let engine = DatabaseEngine.postgres
    public let schema: String
    private let client: PostgresClient
    private let logger: Logger
    /// Every connection leased from `client` goes through `withLeasedConnection`, which counts it here.
    private let leases = ConnectionLeases()
    private let maximumConnections: Int

    public init(configuration: PostgresClient.Configuration, schema: String, logger: Logger) {
        var configuration = configuration
        configuration.options.additionalStartupParameters.append(("search_path", schema))
        self.schema = schema
        self.logger = logger
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.maximumConnections = configuration.options.maximumConnections
    }

    public func connectionPoolSnapshot() -> ConnectionPoolSnapshot {
        ConnectionPoolSnapshot(inUse: leases.current, capacity: maximumConnections)
    }

    public func observeConnectionWaits(_ observer: @escaping @Sendable (Duration) -> Void) {
        leases.observeWaits(observer)
    }

    /// Leases a connection from the pool for `body`, counted in `leases`. A wait that ends without a connection
    /// (the pool's connection timeout, cancellation) is reported as a wait too.
    private func withLeasedConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let requested = ContinuousClock.now
        var leased = false
        do {
            return try await client.withConnection { connection in
                leased = true
                leases.begin(waitedSince: requested)
                defer { leases.end() }
                return try await body(connection)
            }
        } catch {
            if !leased { leases.recordWait(since: requested) }
            throw error
        }
    }

    public func read<T: Sendable>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await DatabaseSpan.run("read", engine: engine, namespace: schema) {
            try await PostgresDatabase.refusingBadInput {
                try await withLeasedConnection { connection in
                    try await body(connection.sql(queryLogLevel: nil))
                }
            }
        }
    }

    /// PostgreSQL refuses some values SQLite stores (a NUL character in text, for one) with a "data exception"
    /// (SQLSTATE class 22). Those come from the caller's input, so they are a 400, never a 500, wherever the
    /// value entered: a body, a query parameter, a form field or a header.
    static func refusingBadInput<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PSQLError where error.serverInfo?[.sqlState]?.hasPrefix("22") == true {
            throw Problem(
                .badRequest, type: Problem.typeBase + "unstorable-value", title: "Unstorable value",
                detail: "A value in the request cannot be stored or searched (for example, it contains a NUL character).")
        }
    }

    public func transaction<T: Sendable>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await DatabaseSpan.run("transaction", engine: engine, namespace: schema) {
            try await PostgresDatabase.refusingBadInput { try await run(transaction: body) }
        }
    }

    private func run<T: Sendable>(transaction body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await withLeasedConnection { connection in
            let sql = connection.sql(queryLogLevel: nil)
            try await sql.raw("BEGIN").run()
            do {
                let result = try await body(sql)
                try await sql.raw("COMMIT").run()
                return result
            } catch {
                try? await sql.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    /// Creates the service's schema; migrations then create their tables in it.
    public func createSchema() async throws {
        try await withLeasedConnection { connection in
            let sql = connection.sql(queryLogLevel: nil)
            try await sql.raw("CREATE SCHEMA IF NOT EXISTS \(ident: schema)").run()
        }
    }

    /// Drops the schema and everything in it; tests use this to clean up after themselves.
    public func dropSchema() async throws {
        try await withLeasedConnection { connection in
            try await connection.sql(queryLogLevel: nil).raw("DROP SCHEMA IF EXISTS \(ident: schema) CASCADE").run()
        }
    }

    /// Keeps the pool running until graceful shutdown; the service group stops databases after the HTTP
    /// servers that use them, so in-flight requests finish first.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.client.run()
        }
    }
}
