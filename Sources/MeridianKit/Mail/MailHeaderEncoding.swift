import Foundation

/// Writes header fields the way RFC 5322 and RFC 2047 want them: printable ASCII only, lines folded at whitespace
/// to at most 78 characters, anything else (non-ASCII, control characters, words too long to fold) carried in
/// `=?UTF-8?B?…?=` encoded words of at most 75 characters each.
enum MailHeaderEncoding {
    static let lineLimit = 78

    /// `Name: value` folded into CRLF-terminated lines. Tokens are separated by one space; a fold happens only
    /// between tokens, so a token is never split.
    static func field(_ name: String, tokens: [String]) -> String {
        var output = name + ":"
        var lineLength = output.utf8.count
        for token in tokens {
            let length = token.utf8.count
            if lineLength + 1 + length > lineLimit && lineLength > name.utf8.count + 1 {
                output += "\r\n "
                lineLength = 1
            } else {
                output += " "
                lineLength += 1
            }
            output += token
            lineLength += length
        }
        return output + "\r\n"
    }

    /// An unstructured value (Subject, custom fields): its words as they are when that is safe, otherwise encoded
    /// words. Line breaks in the value are unfolded to spaces first (a raw CR or LF would end the field and let
    /// the rest become a header of the caller's choosing).
    static func unstructuredTokens(_ value: String) -> [String] {
        let flattened = String(
            String.UnicodeScalarView(
                value.unicodeScalars.map { $0 == "\r" || $0 == "\n" || $0 == "\t" ? " " : $0 }))
        let words = flattened.split(separator: " ").map(String.init)
        let plain = words.allSatisfy { word in
            word.utf8.count <= lineLimit - 2 && !word.contains("=?")
                && word.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
        }
        return plain ? words : encodedWords(flattened)
    }

    /// A display name: atoms as they are, a quoted string when it has specials, encoded words when non-ASCII.
    static func displayNameTokens(_ name: String) -> [String] {
        let bytes = Array(name.utf8)
        let printable = bytes.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
        if printable && !name.contains("=?") {
            let words = name.split(separator: " ")
            if words.allSatisfy({ $0.utf8.allSatisfy(MailAddress.isAtext) }) { return words.map(String.init) }
            if bytes.count <= lineLimit - 4 {
                var quoted = "\""
                for character in name {
                    if character == "\"" || character == "\\" { quoted.append("\\") }
                    quoted.append(character)
                }
                return [quoted + "\""]
            }
        }
        return encodedWords(name)
    }

    /// RFC 2047 B encoding in UTF-8. Each word holds at most 39 bytes (52 base64 characters, 64 in all, so that it
    /// fits on a line after `Subject: `) and is cut
    /// only between Unicode scalars, because a decoder handles each encoded word on its own.
    static func encodedWords(_ text: String) -> [String] {
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in text.unicodeScalars {
            let encoded = Array(String(scalar).utf8)
            if chunk.count + encoded.count > 39 {
                words.append(encodedWord(chunk))
                chunk = []
            }
            chunk += encoded
        }
        if !chunk.isEmpty || words.isEmpty { words.append(encodedWord(chunk)) }
        return words
    }

    private static func encodedWord(_ bytes: [UInt8]) -> String {
        "=?UTF-8?B?" + Data(bytes).base64EncodedString() + "?="
    }

    /// An address as a list of tokens: `Name <local@domain>`, or just `local@domain` without a name.
    static func addressTokens(_ address: MailAddress) -> [String] {
        guard let name = address.name else { return [address.address] }
        return displayNameTokens(name) + ["<\(address.address)>"]
    }

    /// An address list, comma-separated, foldable between (and inside) addresses.
    static func addressListTokens(_ addresses: [MailAddress]) -> [String] {
        var tokens: [String] = []
        for (index, address) in addresses.enumerated() {
            var own = addressTokens(address)
            if index < addresses.count - 1 { own[own.count - 1] += "," }
            tokens += own
        }
        return tokens
    }

    /// RFC 5322 §3.3 date-time, always in UTC (`+0000`), independent of the process's locale.
    static func dateTime(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int?) -> String { value.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        return "\(days[(parts.weekday ?? 1) - 1]), \(two(parts.day)) \(months[(parts.month ?? 1) - 1]) "
            + "\(parts.year ?? 1970) \(two(parts.hour)):\(two(parts.minute)):\(two(parts.second)) +0000"
    }
}
