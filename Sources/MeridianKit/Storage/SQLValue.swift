import Foundation
import NIOCore
import SQLKit
import SQLiteNIO

/// A value bound to, or read from, a statement run by `SQLiteWriter.query`; `expression` binds the same value
/// through SQLKit, so a repository describes a row once for both paths.
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

    /// The value as an SQLKit bind (`NULL` as the literal).
    public var expression: any SQLExpression {
        switch self {
        case .integer(let value): SQLBind(value)
        case .real(let value): SQLBind(value)
        case .text(let value): SQLBind(value)
        case .blob(let data): SQLBind(data)
        case .null: SQLLiteral.null
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
