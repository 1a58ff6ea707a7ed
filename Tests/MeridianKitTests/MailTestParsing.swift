import Foundation

/// A small, independent reader of RFC 5322 / MIME messages for the mail tests: unfolds header fields, decodes
/// RFC 2047 encoded words and quoted-printable, and splits multipart bodies. Written from the RFCs, not from the
/// renderer, so a rendering bug shows up as a mismatch.
struct ParsedMail {
    var headers: [(name: String, value: String)] = []
    var body: String = ""

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    func headers(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    /// Splits at the first empty line and unfolds (CRLF followed by white space is removed, RFC 5322 §2.2.3).
    static func parse(_ text: String) -> ParsedMail {
        var mail = ParsedMail()
        let separator = text.range(of: "\r\n\r\n")
        let head = separator.map { String(text[..<$0.lowerBound]) } ?? text
        mail.body = separator.map { String(text[$0.upperBound...]) } ?? ""
        let unfolded = head.replacingOccurrences(of: "\r\n ", with: " ").replacingOccurrences(of: "\r\n\t", with: "\t")
        for line in unfolded.components(separatedBy: "\r\n") where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            mail.headers.append((String(line[..<colon]), String(value)))
        }
        return mail
    }

    /// The `boundary` parameter of a multipart Content-Type.
    var boundary: String? {
        guard let type = header("Content-Type"), let range = type.range(of: "boundary=\"") else { return nil }
        let rest = type[range.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    /// The body parts between `--boundary` lines, each parsed.
    var parts: [ParsedMail] {
        guard let boundary else { return [] }
        let delimiter = "\r\n--" + boundary
        let sections = ("\r\n" + body).components(separatedBy: delimiter)
        // sections[0] is the preamble; the last one starts with "--" (the close delimiter).
        return sections.dropFirst().filter { !$0.hasPrefix("--") }.map { section in
            ParsedMail.parse(String(section.drop(while: \.isNewline)))
        }
    }
}

enum MailDecoding {
    /// Decodes RFC 2047 encoded words (B and Q); white space between two adjacent encoded words is dropped.
    static func decodeWords(_ value: String) -> String {
        let pattern = try! NSRegularExpression(pattern: #"=\?([^?]+)\?([BbQq])\?([^?]*)\?="#)
        var output = ""
        var cursor = value.startIndex
        var lastWasEncoded = false
        for match in pattern.matches(in: value, range: NSRange(value.startIndex..., in: value)) {
            let range = Range(match.range, in: value)!
            let between = String(value[cursor..<range.lowerBound])
            if !(lastWasEncoded && between.allSatisfy(\.isWhitespace)) { output += between }
            let encoding = value[Range(match.range(at: 2), in: value)!].uppercased()
            let payload = String(value[Range(match.range(at: 3), in: value)!])
            let bytes: [UInt8]
            if encoding == "B" {
                bytes = Array(Data(base64Encoded: payload) ?? Data())
            } else {
                bytes = quotedPrintableBytes(payload.replacingOccurrences(of: "_", with: " "))
            }
            output += String(decoding: bytes, as: UTF8.self)
            cursor = range.upperBound
            lastWasEncoded = true
        }
        output += value[cursor...]
        return output
    }

    /// Quoted-printable to text: soft breaks removed, `=XX` decoded.
    static func quotedPrintable(_ text: String) -> String {
        String(decoding: quotedPrintableBytes(text.replacingOccurrences(of: "=\r\n", with: "")), as: UTF8.self)
    }

    private static func quotedPrintableBytes(_ text: String) -> [UInt8] {
        let input = Array(text.utf8)
        var output: [UInt8] = []
        var index = 0
        while index < input.count {
            if input[index] == UInt8(ascii: "="), index + 2 < input.count + 0,
                let byte = UInt8(String(decoding: input[(index + 1)...(index + 2)], as: UTF8.self), radix: 16)
            {
                output.append(byte)
                index += 3
            } else {
                output.append(input[index])
                index += 1
            }
        }
        return output
    }
}
