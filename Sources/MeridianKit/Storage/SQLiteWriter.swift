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

/// A value bound to, or read from, a statement run by `SQLiteWriter.query`.
public enum SQLValue: Sendable, Equatable {
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
    case null

    public init(_ text: String?) { self = text.map(SQLValue.text) ?? .null }

    init(_ data: SQLiteData) {
        switch data {
        case .integer(let value): self = .integer(Int64(value))
        case .float(let value): self = .real(value)
        case .text(let value): self = .text(value)
        case .blob(let buffer): self = .blob(Data(buffer.readableBytesView))
        case .null: self = .null
        }
    }

    var sqliteData: SQLiteData {
        switch self {
        case .integer(let value): .integer(SQLiteInt64(value))
        case .real(let value): .float(value)
        case .text(let value): .text(value)
        case .blob(let data): .blob(ByteBuffer(bytes: data))
        case .null: .null
        }
    }

    public struct WrongType: Error {}

    public func text() throws -> String {
        guard case .text(let value) = self else { throw WrongType() }
        return value
    }

    public func integer() throws -> Int64 {
        guard case .integer(let value) = self else { throw WrongType() }
        return value
    }

    public func blob() throws -> Data {
        guard case .blob(let data) = self else { throw WrongType() }
        return data
    }

    /// A blob, or nil for NULL.
    public func optionalBlob() throws -> Data? {
        if case .null = self { return nil }
        return try blob()
    }
}

/// The rows of one statement: SQLiteNIO hands them over one at a time from the connection's thread, before the
/// query's answer resumes the caller, so the lock is never contended.
private final class RowCollector: Sendable {
    private let rows = Mutex<[[SQLValue]]>([])

    func append(_ row: [SQLValue]) { rows.withLock { $0.append(row) } }
    var all: [[SQLValue]] { rows.withLock { $0 } }
}
