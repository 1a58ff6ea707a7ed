/// `application/x-www-form-urlencoded`, the encoding of OAuth requests (RFC 6749 appendix B) in query strings
/// and bodies. Hand-written because the parsers at hand drop what OAuth needs to see: a parameter given twice
/// is an error (RFC 6749 section 3.1), and `+` means a space.
enum FormEncoding {
    struct Fields: Sendable, Equatable {
        /// The first value of each name.
        private(set) var values: [String: String] = [:]
        /// Names given more than once, in order of their second appearance.
        private(set) var repeated: [String] = []

        subscript(_ name: String) -> String? { values[name] }

        mutating func add(_ name: String, _ value: String) {
            if values[name] == nil {
                values[name] = value
            } else if !repeated.contains(name) {
                repeated.append(name)
            }
        }
    }

    /// Nil when the text is not valid form encoding (bad percent escapes or bytes that are not UTF-8).
    static func parse(_ text: Substring) -> Fields? {
        var fields = Fields()
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : "") else { return nil }
            fields.add(name, value)
        }
        return fields
    }

    static func decode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(0x20)
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters, so the result is safe in any query.
    static func encode(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if Base64URL.isAlphabet(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "~") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
