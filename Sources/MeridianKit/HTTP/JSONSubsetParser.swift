/// A byte-scanning JSON parser for the documents requests carry all the time (objects, arrays, strings,
/// integers, booleans, null), producing the same `JSONValue` as Foundation's `JSONDecoder`, which tries each kind
/// in turn and costs several thrown errors per value. `JSONValue.parse` tries it first.
///
/// Anything outside that subset, valid or not, is left to Foundation, so its answers (and its refusals) stay the
/// rule: a fraction or an exponent, an integer beyond Int64 or written `-0`, a `\u` escape of a surrogate, a
/// repeated object key, bytes that are not UTF-8, unescaped control characters, nesting deeper than `maxDepth`,
/// and every syntax error.
struct JSONSubsetParser {
    static let maxDepth = 64

    /// nil when the document is not (entirely) in the subset.
    static func parseSubset(_ bytes: UnsafeBufferPointer<UInt8>) -> JSONValue? {
        var parser = JSONSubsetParser(bytes: bytes)
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipWhitespace()
        return parser.offset == bytes.count ? value : nil
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var offset = 0

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x09, 0x0A, 0x0D: offset += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) -> JSONValue? {
        skipWhitespace()
        guard offset < bytes.count, depth <= JSONSubsetParser.maxDepth else { return nil }
        switch bytes[offset] {
        case UInt8(ascii: "{"): return object(depth: depth)
        case UInt8(ascii: "["): return array(depth: depth)
        case UInt8(ascii: "\""): return string().map(JSONValue.string)
        case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
        case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
        case UInt8(ascii: "n"): return literal("null") ? .null : nil
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return integer().map(JSONValue.integer)
        default: return nil
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count - offset >= count else { return false }
        for index in 0..<count where bytes[offset + index] != word.utf8Start[index] { return false }
        offset += count
        return true
    }

    private mutating func object(depth: Int) -> JSONValue? {
        offset += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") {
            offset += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\""), let key = string() else { return nil }
            skipWhitespace()
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else { return nil }
            offset += 1
            guard let value = value(depth: depth + 1), members.updateValue(value, forKey: key) == nil,
                let closed = separatorOrClose(UInt8(ascii: "}"))
            else { return nil }
            if closed { return .object(members) }
        }
    }

    private mutating func array(depth: Int) -> JSONValue? {
        offset += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") {
            offset += 1
            return .array(elements)
        }
        while true {
            guard let element = value(depth: depth + 1) else { return nil }
            elements.append(element)
            guard let closed = separatorOrClose(UInt8(ascii: "]")) else { return nil }
            if closed { return .array(elements) }
        }
    }

    /// After a member or an element: a comma (false, another follows) or `close` (true, the container ends); nil
    /// for anything else.
    private mutating func separatorOrClose(_ close: UInt8) -> Bool? {
        skipWhitespace()
        guard offset < bytes.count else { return nil }
        switch bytes[offset] {
        case UInt8(ascii: ","):
            offset += 1
            return false
        case close:
            offset += 1
            return true
        default: return nil
        }
    }

    /// `-?(0|[1-9][0-9]*)` within Int64, not followed by a fraction or an exponent; `-0` is left to Foundation.
    private mutating func integer() -> Int64? {
        let negative = bytes[offset] == UInt8(ascii: "-")
        if negative { offset += 1 }
        let start = offset
        var magnitude: UInt64 = 0
        while offset < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[offset]) {
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(bytes[offset] - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            magnitude = sum
            offset += 1
        }
        let digits = offset - start
        guard digits > 0, !(digits > 1 && bytes[start] == UInt8(ascii: "0")), !(negative && magnitude == 0),
            magnitude <= UInt64(Int64.max)
        else { return nil }
        if offset < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[offset]) {
            return nil
        }
        return negative ? -Int64(magnitude) : Int64(magnitude)
    }

    /// From the opening quote; the common case (no escapes) is one scan and one validating copy.
    private mutating func string() -> String? {
        offset += 1
        let start = offset
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
                offset += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { return escapedString(from: start) }
            if byte < 0x20 { return nil }
            offset += 1
        }
        return nil
    }

    private mutating func escapedString(from start: Int) -> String? {
        var out: [UInt8] = Array(bytes[start..<offset])
        while offset < bytes.count {
            let byte = bytes[offset]
            offset += 1
            switch byte {
            case UInt8(ascii: "\""): return String(validating: out, as: UTF8.self)
            case 0..<0x20: return nil
            case UInt8(ascii: "\\"):
                guard offset < bytes.count else { return nil }
                let escape = bytes[offset]
                offset += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard bytes.count - offset >= 4 else { return nil }
                    var code: UInt32 = 0
                    for _ in 0..<4 {
                        guard let digit = JSONSubsetParser.hexValue(bytes[offset]) else { return nil }
                        code = code << 4 | digit
                        offset += 1
                    }
                    guard let scalar = Unicode.Scalar(code) else { return nil }
                    out.append(contentsOf: UTF8.encode(scalar)!)
                default: return nil
                }
            default: out.append(byte)
            }
        }
        return nil
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
