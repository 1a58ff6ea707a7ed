/// RFC 2045 §6.7 quoted-printable for text bodies: line breaks become CRLF, encoded lines stay at most 76
/// characters (soft breaks `=` CRLF), everything outside printable ASCII is `=XX`, and trailing white space is
/// encoded so that no transport can strip it.
enum QuotedPrintable {
    static let maxLineLength = 76

    static func encode(_ text: String) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count + text.utf8.count / 8)
        for (index, line) in lines(of: text).enumerated() {
            if index > 0 { output += [0x0D, 0x0A] }
            encodeLine(line, into: &output)
        }
        return output
    }

    /// Splits on CRLF, CR or LF, so that whatever the caller's line endings, the body is CRLF on the wire.
    private static func lines(of text: String) -> [ArraySlice<UInt8>] {
        let bytes = Array(text.utf8)
        var result: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x0D || bytes[index] == 0x0A {
                result.append(bytes[start..<index])
                if bytes[index] == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A { index += 1 }
                start = index + 1
            }
            index += 1
        }
        result.append(bytes[start..<bytes.count])
        return result
    }

    private static func encodeLine(_ line: ArraySlice<UInt8>, into output: inout [UInt8]) {
        var lineLength = 0
        for (offset, byte) in line.enumerated() {
            let isLast = offset == line.count - 1
            let literal =
                (byte >= 0x21 && byte <= 0x7E && byte != UInt8(ascii: "=")) || ((byte == 0x20 || byte == 0x09) && !isLast)
            let piece: [UInt8] = literal ? [byte] : escaped(byte)
            // Keep room for the soft break's "=" unless this is the line's last piece.
            let limit = isLast ? maxLineLength : maxLineLength - 1
            if lineLength + piece.count > limit {
                output += [UInt8(ascii: "="), 0x0D, 0x0A]
                lineLength = 0
            }
            output += piece
            lineLength += piece.count
        }
    }

    private static func escaped(_ byte: UInt8) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        return [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
    }
}
