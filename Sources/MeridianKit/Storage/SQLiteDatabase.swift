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
public final class SQLiteDatabase: PooledDatabase {
    public let engine = DatabaseEngine.sqlite
    public let path: String
    private let logger: Logger
    private let writeLock = AsyncLock()
    private let connections: Connections
    /// The writer, leased under `writeLock`: at most one lease at a time.
    private let writerLeases = ConnectionLeases()

    /// A reader connection and the reads running on it now; reads share a reader (they take turns on its
    /// thread), so a reader is in use while at least one read runs on it.
    private final class Reader: Sendable {
        let connection: SQLiteConnection
        let reads = Atomic<Int>(0)

        init(_ connection: SQLiteConnection) { self.connection = connection }

        var isInUse: Bool { reads.load(ordering: .relaxed) > 0 }
    }

    private final class Connections: Sendable {
        let writer: SQLiteConnection
        let readers: [Reader]
        let next = Atomic<Int>(0)

        init(writer: SQLiteConnection, readers: [SQLiteConnection]) {
            self.writer = writer
            self.readers = readers.map(Reader.init)
        }

        var all: [SQLiteConnection] { [writer] + readers.map(\.connection) }

        let closed = Atomic<Bool>(false)

        /// Closes every connection once; sqlite-nio must not close a connection twice (its hooks are cleared
        /// on the closed handle).
        func close() async {
            guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
            for connection in all {
                // The future-based close still runs when the calling task is already cancelled, as it is when
                // a service group stops; the async one would not.
                try? await connection.close().get()
            }
        }

        /// A database that was opened but never run (a router built only to list its routes) still closes its
        /// connections; each pending close keeps its connection alive until it has run.
        deinit {
            guard !closed.load(ordering: .acquiring) else { return }
            for connection in all { _ = connection.close() }
        }

        func reader() -> Reader {
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
        // A 64 MB page cache for the writer (SQLite's default is 2 MB): a write that touches many index pages,
        // as an analytics batch spread over days does, otherwise reads most of them back from the file. It is a
        // ceiling, filled only as pages are used. Statement journals (the undo of a multi-row statement that
        // can fail halfway, as an `INSERT … ON CONFLICT` is) in memory instead of a temporary file: each was
        // written through the kernel, a tenth of an analytics batch's CPU time. A checkpoint every 8,000 WAL
        // pages (32 MB) instead of 1,000: it runs inside a commit, and the pages written again and again (the
        // current rollup rows, index roots) are copied to the database once per checkpoint.
        for pragma in [
            "PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=10000",
            "PRAGMA foreign_keys=ON", "PRAGMA cache_size=-65536", "PRAGMA temp_store=MEMORY",
            "PRAGMA wal_autocheckpoint=8000",
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
            let reader = connections.reader()
            reader.reads.add(1, ordering: .relaxed)
            defer { reader.reads.subtract(1, ordering: .relaxed) }
            return try await body(reader.connection.sql(queryLogLevel: nil))
        }
    }

    /// The writer and each reader with a read running count as in use; the capacity is all of them.
    public func connectionPoolSnapshot() -> ConnectionPoolSnapshot {
        ConnectionPoolSnapshot(
            inUse: writerLeases.current + connections.readers.count(where: \.isInUse),
            capacity: 1 + connections.readers.count)
    }

    /// Reads never wait for a connection (they share the readers), so the waits are the transactions' waits for
    /// the write lock.
    public func observeConnectionWaits(_ observer: @escaping @Sendable (Duration) -> Void) {
        writerLeases.observeWaits(observer)
    }

    public func transaction<T: Sendable>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        // The span includes the wait for the write lock: that wait is time the caller spends on SQL too.
        try await DatabaseSpan.run("transaction", engine: engine, namespace: nil) { try await transactionInLock(body) }
    }

    private func transactionInLock<T: Sendable>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        let requested = ContinuousClock.now
        return try await writeLock.withLock {
            writerLeases.begin(waitedSince: requested)
            defer { writerLeases.end() }
            let sql = SQLiteWriter(base: connections.writer.sql(queryLogLevel: nil), connection: connections.writer)
            try await sql.raw("BEGIN IMMEDIATE").run()
            do {
                let result = try await body(sql)
                try await sql.raw("COMMIT").run()
                return result
            } catch {
                await rollBack()
                throw error
            }
        }
    }

    /// `ROLLBACK` through the future-based query, which runs even when the calling task is cancelled: the async
    /// one throws `CancellationError` without running, and the writer would then stay inside the transaction,
    /// refusing every later one ("cannot start a transaction within a transaction").
    private func rollBack() async {
        _ = try? await connections.writer.query("ROLLBACK", [], logger: logger) { _ in }.get()
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    public func close() async {
        await connections.close()
    }
}
