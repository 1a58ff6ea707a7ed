import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import SQLiteNIO
import Synchronization
import ServiceLifecycle

/// SQLite in WAL mode with `synchronous=FULL` (an acknowledged commit survives power loss), one writer
/// connection serialised by a lock, and a few reader connections that WAL lets run beside it. The file and its
/// WAL are created 0600.
public final class SQLiteDatabase: Database {
    public let engine = DatabaseEngine.sqlite
    public let path: String
    private let logger: Logger
    private let writeLock = AsyncLock()
    private let connections: Connections

    private final class Connections: Sendable {
        let writer: SQLiteConnection
        let readers: [SQLiteConnection]
        let next = Atomic<Int>(0)

        init(writer: SQLiteConnection, readers: [SQLiteConnection]) {
            self.writer = writer
            self.readers = readers
        }

        let closed = Atomic<Bool>(false)

        /// Closes every connection once; sqlite-nio must not close a connection twice (its hooks are cleared
        /// on the closed handle).
        func close() async {
            guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
            for connection in [writer] + readers {
                // The future-based close still runs when the calling task is already cancelled, as it is when
                // a service group stops; the async one would not.
                try? await connection.close().get()
            }
        }

        /// A database that was opened but never run (a router built only to list its routes) still closes its
        /// connections; each pending close keeps its connection alive until it has run.
        deinit {
            guard !closed.load(ordering: .acquiring) else { return }
            for connection in [writer] + readers { _ = connection.close() }
        }

        func reader() -> SQLiteConnection {
            readers[next.wrappingAdd(1, ordering: .relaxed).oldValue % readers.count]
        }
    }

    public init(path: String, readers: Int = 2, logger: Logger) throws {
        self.path = path
        self.logger = logger
        try SQLiteDatabase.prepareFile(path)
        let group = MultiThreadedEventLoopGroup.singleton
        let open = { () throws -> SQLiteConnection in
            try SQLiteConnection.open(
                storage: .file(path: path), threadPool: .singleton, logger: logger, on: group.any()
            ).wait()
        }
        let writer = try open()
        for pragma in [
            "PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=10000",
            "PRAGMA foreign_keys=ON",
        ] {
            _ = try writer.query(pragma).wait()
        }
        var readerConnections: [SQLiteConnection] = []
        for _ in 0..<max(1, readers) {
            let reader = try open()
            _ = try reader.query("PRAGMA busy_timeout=10000").wait()
            _ = try reader.query("PRAGMA query_only=ON").wait()
            readerConnections.append(reader)
        }
        self.connections = Connections(writer: writer, readers: readerConnections)
    }

    /// Creates the file (and its directory) owner-only before SQLite opens it; SQLite gives the WAL and shared
    /// memory files the same mode as the database file.
    static func prepareFile(_ path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            else { throw DatabaseLocation.InvalidURL(description: "cannot create the database file \(path)") }
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    public func read<T: Sendable>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await DatabaseSpan.run("read", engine: engine, namespace: nil) {
            try await body(connections.reader().sql(queryLogLevel: nil))
        }
    }

    public func transaction<T: Sendable>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        // The span includes the wait for the write lock: that wait is time the caller spends on SQL too.
        try await DatabaseSpan.run("transaction", engine: engine, namespace: nil) { try await transactionInLock(body) }
    }

    private func transactionInLock<T: Sendable>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await writeLock.withLock {
            let sql = connections.writer.sql(queryLogLevel: nil)
            try await sql.raw("BEGIN IMMEDIATE").run()
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

    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    public func close() async {
        await connections.close()
    }
}
