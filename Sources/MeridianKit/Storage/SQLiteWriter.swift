import Foundation
import Logging
import NIOCore
import SQLKit
import SQLiteNIO
import Synchronization

/// The `SQLDatabase` a SQLite transaction's body gets: the writer connection through SQLKit, as everywhere, and
/// `query(_:_:)` for statements that carry thousands of values (an analytics group of 8,000 events is 72,000).
/// SQLKit builds each statement from expression values and encodes every bind through `Encodable`, a dynamic
/// cast per value; for those statements that was a sixth of the CPU time, all of it inside the write lock.
/// `query` hands the text and the values straight to the connection.
public struct SQLiteWriter: SQLDatabase {
    let base: any SQLDatabase
    let connection: SQLiteConnection

    init(base: any SQLDatabase, connection: SQLiteConnection) {
        self.base = base
        self.connection = connection
    }

    public var logger: Logger { base.logger }
    public var eventLoop: any EventLoop { base.eventLoop }
    public var version: (any SQLDatabaseReportedVersion)? { base.version }
    public var dialect: any SQLDialect { base.dialect }
    public var queryLogLevel: Logger.Level? { base.queryLogLevel }

    public func execute(
        sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void
    ) -> EventLoopFuture<Void> {
        base.execute(sql: query, onRow)
    }

    public func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try await base.execute(sql: query, onRow)
    }

    /// Runs `statement`, whose `?` placeholders take `binds` in order, and answers its rows, each as its
    /// columns' values in order.
    public func query(_ statement: String, _ binds: [SQLValue]) async throws -> [[SQLValue]] {
        let rows = RowCollector()
        try await connection.query(statement, binds.map(\.sqliteData)) { row in
            rows.append(row.columns.map { SQLValue($0.data) })
        }
        return rows.all
    }
}

/// The rows of one statement: SQLiteNIO hands them over one at a time from the connection's thread, before the
/// query's answer resumes the caller, so the lock is never contended.
private final class RowCollector: Sendable {
    private let rows = Mutex<[[SQLValue]]>([])

    func append(_ row: [SQLValue]) { rows.withLock { $0.append(row) } }
    var all: [[SQLValue]] { rows.withLock { $0 } }
}
