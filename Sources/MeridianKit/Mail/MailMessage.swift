import Crypto
import Foundation

/// One email: RFC 5322 header and a MIME body, `multipart/alternative` with a text and an HTML part when there is
/// HTML, otherwise a single text part. Bodies are quoted-printable UTF-8, so the rendered message is 7-bit and
/// every line stays within 78 characters (RFC 5322 §2.1.1), whatever the caller's text.
public struct MailMessage: Sendable {
    public let from: MailAddress
    public let to: [MailAddress]
    public let subject: String
    public let text: String
    public let html: String?
    /// Stable across retries of the same notification (the caller derives it from the delivery), so that a
    /// message delivered twice after a crash is recognisable as one. Written with angle brackets.
    public let messageID: String
    public let date: Date
    /// Extra fields (`List-Unsubscribe`, `X-Entity-Ref-ID`, …). Fields whose name is not RFC 5322 `ftext`, or that
    /// would duplicate one this type writes itself, are left out: a caller cannot override From or inject MIME
    /// structure through them.
    public let headers: [(String, String)]

    public init(
        from: MailAddress, to: [MailAddress], subject: String, text: String, html: String?,
        messageID: String, date: Date = Date(), headers: [(String, String)] = []
    ) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.messageID = messageID
        self.date = date
        self.headers = headers
    }

    static let reservedFields: Set<String> = [
        "date", "from", "to", "cc", "bcc", "subject", "message-id", "mime-version", "content-type",
        "content-transfer-encoding", "sender", "reply-to",
    ]

    /// `<id>` as written: the brackets added when missing, anything that would break the field removed.
    public var messageIDField: String {
        var id = messageID.filter { $0.isASCII && !$0.isWhitespace && $0 != "<" && $0 != ">" && !$0.isNewline }
        if id.isEmpty { id = "invalid@meridian.invalid" }
        return "<\(id)>"
    }

    /// The message exactly as sent in DATA (before dot-stuffing): CRLF line endings, 7-bit.
    public func rendered() -> [UInt8] {
        var head = ""
        head += MailHeaderEncoding.field("Date", tokens: [MailHeaderEncoding.dateTime(date)])
        head += MailHeaderEncoding.field("From", tokens: MailHeaderEncoding.addressTokens(from))
        head += MailHeaderEncoding.field("To", tokens: MailHeaderEncoding.addressListTokens(to))
        head += MailHeaderEncoding.field("Subject", tokens: MailHeaderEncoding.unstructuredTokens(subject))
        head += MailHeaderEncoding.field("Message-ID", tokens: [messageIDField])
        for (name, value) in headers where Self.isAllowedFieldName(name) {
            head += MailHeaderEncoding.field(name, tokens: MailHeaderEncoding.unstructuredTokens(value))
        }
        head += "MIME-Version: 1.0\r\n"

        var output = Array(head.utf8)
        guard let html else {
            output += Array(Self.partHeader(subtype: "plain").utf8)
            output += QuotedPrintable.encode(text) + [0x0D, 0x0A]
            return output
        }
        let boundary = self.boundary
        output += Array("Content-Type: multipart/alternative;\r\n boundary=\"\(boundary)\"\r\n\r\n".utf8)
        output += Array("This is a multi-part message in MIME format.\r\n".utf8)
        for (subtype, body) in [("plain", text), ("html", html)] {
            output += Array("\r\n--\(boundary)\r\n".utf8)
            output += Array(Self.partHeader(subtype: subtype).utf8)
            output += QuotedPrintable.encode(body)
        }
        output += Array("\r\n--\(boundary)--\r\n".utf8)
        return output
    }

    private static func partHeader(subtype: String) -> String {
        "Content-Type: text/\(subtype); charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    }

    /// Derived from the Message-ID, so the same message renders to the same bytes on every retry. `=_` cannot occur
    /// in quoted-printable output (`=` is always followed by hex digits or a line break), so the boundary can
    /// never collide with a body line.
    var boundary: String {
        let digest = SHA256.hash(data: Data(messageIDField.utf8))
        return "=_meridian_" + digest.prefix(12).hexString
    }

    static func isAllowedFieldName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 76 && !reservedFields.contains(name.lowercased())
            && name.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E && $0 != UInt8(ascii: ":") }
    }
}
