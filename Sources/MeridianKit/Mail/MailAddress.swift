/// An email address checked against RFC 5321 (the SMTP path: what a server accepts in `MAIL FROM` / `RCPT TO`) and
/// RFC 5322 (the header form), with an optional display name.
///
/// Only ASCII addresses are accepted: we do not speak SMTPUTF8, so a non-ASCII local part or an unencoded
/// internationalised domain would be refused by most servers anyway; refusing it here gives the caller a precise
/// error instead of a late 553. Display names may be any Unicode text: they are written as RFC 2047 encoded words.
public struct MailAddress: Sendable, Hashable, CustomStringConvertible {
    /// `local@domain`, exactly as given (case is kept: the local part is case-sensitive per RFC 5321 §2.4).
    public let address: String
    public let name: String?

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        /// Why the address was refused; never contains the address itself (it is personal data and ends up in logs).
        public let reason: String
        public var description: String { "invalid email address: \(reason)" }
    }

    public init(_ address: String, name: String? = nil) throws {
        try MailAddress.validate(address)
        if let name {
            // A line break in a display name would let a caller inject header fields.
            guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw Invalid(reason: "the display name contains control characters")
            }
            guard name.unicodeScalars.count <= 256 else { throw Invalid(reason: "the display name is too long") }
        }
        self.address = address
        self.name = name.flatMap { $0.trimmingSpaces.isEmpty ? nil : $0.trimmingSpaces }
    }

    public var localPart: String { String(address[..<address.lastIndex(of: "@")!]) }
    public var domain: String { String(address[address.index(after: address.lastIndex(of: "@")!)...]) }

    /// Deliberately only the domain: `description` ends up in logs and error messages, the full address must not.
    public var description: String { "<…@\(domain)>" }

    /// RFC 5321 §4.1.2 `Mailbox`, with the length limits of §4.5.3.1.
    static func validate(_ address: String) throws {
        guard address.unicodeScalars.allSatisfy({ $0.isASCII }) else {
            throw Invalid(reason: "only ASCII addresses are supported (no SMTPUTF8)")
        }
        let bytes = Array(address.utf8)
        guard bytes.count <= 254 else { throw Invalid(reason: "longer than 254 characters") }
        guard let at = bytes.lastIndex(of: UInt8(ascii: "@")) else { throw Invalid(reason: "no @") }
        let local = Array(bytes[..<at])
        let domain = Array(bytes[(at + 1)...])
        guard !local.isEmpty else { throw Invalid(reason: "empty local part") }
        guard local.count <= 64 else { throw Invalid(reason: "local part longer than 64 characters") }
        guard isDotAtom(local) || isQuotedString(local) else {
            throw Invalid(reason: "the local part is neither a dot-atom nor a quoted string")
        }
        try validateDomain(domain)
    }

    private static func validateDomain(_ domain: [UInt8]) throws {
        guard !domain.isEmpty else { throw Invalid(reason: "empty domain") }
        guard domain.count <= 253 else { throw Invalid(reason: "domain longer than 253 characters") }
        if domain.first == UInt8(ascii: "[") {
            guard domain.last == UInt8(ascii: "]"), isAddressLiteral(Array(domain.dropFirst().dropLast())) else {
                throw Invalid(reason: "malformed address literal")
            }
            return
        }
        let labels = domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for label in labels {
            guard !label.isEmpty, label.count <= 63 else { throw Invalid(reason: "empty or over-long domain label") }
            guard label.allSatisfy({ isLetterOrDigit($0) || $0 == UInt8(ascii: "-") }),
                label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-")
            else { throw Invalid(reason: "a domain label has characters other than letters, digits and inner hyphens") }
        }
    }

    private static func isAddressLiteral(_ literal: [UInt8]) -> Bool {
        let text = String(decoding: literal, as: UTF8.self)
        if text.lowercased().hasPrefix("ipv6:") {
            let body = text.dropFirst(5)
            return !body.isEmpty && body.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." } && body.contains(":")
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCIIDigit) && Int(part)! <= 255
        }
    }

    static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }

    /// RFC 5322 `atext`.
    static func isAtext(_ byte: UInt8) -> Bool {
        isLetterOrDigit(byte) || Array("!#$%&'*+-/=?^_`{|}~".utf8).contains(byte)
    }

    private static func isDotAtom(_ text: [UInt8]) -> Bool {
        let atoms = text.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return atoms.allSatisfy { !$0.isEmpty && $0.allSatisfy(isAtext) }
    }

    /// RFC 5321 `Quoted-string`: printable ASCII, with `"` and `\` only as quoted pairs.
    private static func isQuotedString(_ text: [UInt8]) -> Bool {
        guard text.count >= 2, text.first == UInt8(ascii: "\""), text.last == UInt8(ascii: "\"") else { return false }
        var index = 1
        while index < text.count - 1 {
            let byte = text[index]
            if byte == UInt8(ascii: "\\") {
                guard index + 1 < text.count - 1, (0x20...0x7E).contains(text[index + 1]) else { return false }
                index += 2
                continue
            }
            guard (0x20...0x7E).contains(byte), byte != UInt8(ascii: "\"") else { return false }
            index += 1
        }
        return true
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
