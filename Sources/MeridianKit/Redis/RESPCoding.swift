import NIOCore

/// Encodes commands as RESP arrays of bulk strings, the only form a client sends.
enum RESPEncoder {
    static func encode(_ arguments: [RESPArgument], into buffer: inout ByteBuffer) {
        buffer.writeStaticString("*")
        buffer.writeString(String(arguments.count))
        buffer.writeStaticString("\r\n")
        for argument in arguments {
            switch argument {
            case .string(let text):
                buffer.writeStaticString("$")
                buffer.writeString(String(text.utf8.count))
                buffer.writeStaticString("\r\n")
                buffer.writeString(text)
            case .bytes(let bytes):
                buffer.writeStaticString("$")
                buffer.writeString(String(bytes.readableBytes))
                buffer.writeStaticString("\r\n")
                buffer.writeImmutableBuffer(bytes)
            }
            buffer.writeStaticString("\r\n")
        }
    }
}

/// One argument of a command: text (sent as its UTF-8 bytes) or raw bytes.
public enum RESPArgument: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case bytes(ByteBuffer)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .string(String(value)) }
}

/// Decodes replies incrementally: returns nil (and consumes nothing) until a whole reply has arrived, so a
/// reply split across TCP segments is parsed once it is complete.
struct RESPDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = RESPValue

    /// Nesting deeper than this is refused: Redis replies are shallow, and recursion must stay bounded.
    static let maximumDepth = 32
    /// A bulk string or aggregate announcing more than this is refused rather than waited for.
    static let maximumLength = 512 * 1024 * 1024

    struct ProtocolViolation: Error, CustomStringConvertible {
        let description: String
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        var copy = buffer
        guard let value = try Self.parse(&copy, depth: 0) else { return nil }
        buffer = copy
        return value
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try decode(buffer: &buffer)
    }

    /// One value from the front of `buffer`, advancing it; nil when the value is incomplete.
    static func parse(_ buffer: inout ByteBuffer, depth: Int) throws -> RESPValue? {
        guard depth < maximumDepth else { throw ProtocolViolation(description: "replies nested too deeply") }
        guard let type = buffer.readInteger(as: UInt8.self) else { return nil }
        guard let line = readLine(&buffer) else { return nil }
        switch type {
        case UInt8(ascii: "+"): return .simpleString(line)
        case UInt8(ascii: "-"): return .error(line)
        case UInt8(ascii: ":"):
            guard let value = Int64(line) else { throw ProtocolViolation(description: "bad integer '\(line)'") }
            return .integer(value)
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            let length = try count(line)
            guard length >= 0 else { return .bulkString(nil) }
            guard buffer.readableBytes >= length + 2 else { return nil }
            let bytes = buffer.readSlice(length: length)!
            guard buffer.readString(length: 2) == "\r\n" else {
                throw ProtocolViolation(description: "bulk string without CRLF")
            }
            if type == UInt8(ascii: "!") { return .error(String(buffer: bytes)) }
            if type == UInt8(ascii: "=") {
                // Verbatim strings start with a three-letter format and a colon (`txt:`).
                var text = bytes
                text.moveReaderIndex(forwardBy: min(4, text.readableBytes))
                return .bulkString(text)
            }
            return .bulkString(bytes)
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
            let length = try count(line)
            guard length >= 0 else { return .array(nil) }
            var values: [RESPValue] = []
            values.reserveCapacity(min(length, 1024))
            for _ in 0..<length {
                guard let value = try parse(&buffer, depth: depth + 1) else { return nil }
                values.append(value)
            }
            return type == UInt8(ascii: "*") ? .array(values) : .set(values)
        case UInt8(ascii: "%"), UInt8(ascii: "|"):
            let length = try count(line)
            var pairs: [(RESPValue, RESPValue)] = []
            for _ in 0..<max(length, 0) {
                guard let key = try parse(&buffer, depth: depth + 1), let value = try parse(&buffer, depth: depth + 1)
                else { return nil }
                pairs.append((key, value))
            }
            if type == UInt8(ascii: "|") {
                // An attribute annotates the value after it, which is the reply.
                return try parse(&buffer, depth: depth + 1)
            }
            return .map(pairs)
        case UInt8(ascii: "_"): return .null
        case UInt8(ascii: "#"): return .boolean(line == "t")
        case UInt8(ascii: ","):
            switch line {
            case "inf": return .double(.infinity)
            case "-inf": return .double(-.infinity)
            default:
                guard let value = Double(line) else { throw ProtocolViolation(description: "bad double '\(line)'") }
                return .double(value)
            }
        case UInt8(ascii: "("): return .bigNumber(line)
        default:
            throw ProtocolViolation(description: "unknown reply type byte \(type)")
        }
    }

    private static func count(_ line: String) throws -> Int {
        guard let value = Int(line), value >= -1, value <= maximumLength else {
            throw ProtocolViolation(description: "bad length '\(line)'")
        }
        return value
    }

    /// The text up to the next CRLF, consumed with it; nil when no CRLF has arrived yet.
    private static func readLine(_ buffer: inout ByteBuffer) -> String? {
        let view = buffer.readableBytesView
        guard let cr = view.firstIndex(of: UInt8(ascii: "\r")) else {
            return nil
        }
        let length = cr - view.startIndex
        guard buffer.readableBytes >= length + 2 else { return nil }
        let line = buffer.readString(length: length)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }
}
