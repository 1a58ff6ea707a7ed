import NIOCore

/// One reply of the Redis serialisation protocol (RESP2, and the RESP3 types a server may send once `HELLO 3`
/// is negotiated). Bulk strings keep their bytes: Redis strings are binary.
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    /// An error reply (`-ERR …`, RESP3 `!` blob errors too). Kept as a value: `RedisClient` throws it.
    case error(String)
    case integer(Int64)
    /// nil is RESP2's null bulk string (`$-1`).
    case bulkString(ByteBuffer?)
    /// nil is RESP2's null array (`*-1`).
    case array([RESPValue]?)
    /// RESP3 `_`.
    case null
    /// RESP3 `#t` / `#f`.
    case boolean(Bool)
    /// RESP3 `,` (also `(` big numbers, which are kept as their decimal text in `bigNumber`).
    case double(Double)
    case bigNumber(String)
    /// RESP3 `%` maps and `|` attributes, as key/value pairs in the order received.
    case map([(RESPValue, RESPValue)])
    /// RESP3 `~` sets and `>` pushes.
    case set([RESPValue])

    public static func == (lhs: RESPValue, rhs: RESPValue) -> Bool {
        switch (lhs, rhs) {
        case (.simpleString(let a), .simpleString(let b)), (.error(let a), .error(let b)),
            (.bigNumber(let a), .bigNumber(let b)):
            a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.bulkString(let a), .bulkString(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.null, .null): true
        case (.boolean(let a), .boolean(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.set(let a), .set(let b)): a == b
        case (.map(let a), .map(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The value as text: simple and bulk strings, integers.
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let buffer?): String(buffer: buffer)
        case .integer(let value): String(value)
        case .bigNumber(let text): text
        default: nil
        }
    }

    /// The value as an integer: integers, and strings holding one.
    public var int: Int64? {
        switch self {
        case .integer(let value): value
        case .double(let value) where value.rounded() == value && abs(value) < 9.0e18: Int64(value)
        default: string.flatMap { Int64($0) }
        }
    }

    public var array: [RESPValue]? {
        switch self {
        case .array(let values?): values
        case .set(let values): values
        default: nil
        }
    }

    public var isNull: Bool {
        switch self {
        case .null, .bulkString(nil), .array(nil): true
        default: false
        }
    }
}

/// An error reply from the server, such as `NOSCRIPT No matching script` or `WRONGTYPE …`.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    /// The whole message as the server sent it.
    public let message: String
    /// The first word, by Redis convention the error's kind (`ERR`, `NOSCRIPT`, `WRONGTYPE`, `NOAUTH`).
    public var code: Substring { message.prefix { $0 != " " } }
    public var description: String { "Redis error: \(message)" }

    public init(message: String) { self.message = message }
}

/// Why a command did not get a reply: no connection could be made, the reply took longer than the timeout, or
/// the connection broke while the command was in flight. The command may or may not have run.
public struct RedisUnavailable: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable { case connect, timeout, connectionClosed, protocolViolation, shutDown }
    public let reason: Reason
    public let detail: String
    public var description: String { "Redis unavailable (\(reason)): \(detail)" }

    public init(reason: Reason, detail: String) {
        self.reason = reason
        self.detail = detail
    }
}
