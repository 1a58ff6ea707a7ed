import Foundation
import Testing

@testable import MeridianKit

/// `MailMessage.rendered()`: every check parses the output (MailTestParsing) rather than comparing strings, so a
/// test fails when a rule of RFC 5322, RFC 2045 or RFC 2047 breaks, not when the layout changes.
@Suite struct MailMessageRenderingTests {
    static let date = Date(timeIntervalSince1970: 1_795_000_000)  // a Wednesday

    func message(
        subject: String = "Your receipt", text: String = "Thanks!", html: String? = "<p>Thanks!</p>",
        to: [MailAddress]? = nil, messageID: String = "ntf_123.1@meridian.test", headers: [(String, String)] = []
    ) throws -> MailMessage {
        MailMessage(
            from: try MailAddress("shop@meridian.test", name: "Meridian Shop"),
            to: try to ?? [MailAddress("ada@example.com", name: "Ada Lovelace")], subject: subject, text: text,
            html: html, messageID: messageID, date: Self.date, headers: headers)
    }

    func render(_ message: MailMessage) -> String {
        String(decoding: message.rendered(), as: UTF8.self)
    }

    @Test func everyLineEndsInCRLFIsSevenBitAndAtMost78Characters() throws {
        let long = String(repeating: "Grüße aus Zürich — ", count: 40)
        let raw = try message(subject: long, text: long + "\n" + long, html: "<p>\(long)</p>").rendered()
        #expect(raw.allSatisfy { $0 < 0x80 })
        #expect(raw.suffix(2) == [0x0D, 0x0A])
        var lineLength = 0
        for (index, byte) in raw.enumerated() {
            if byte == 0x0A {
                #expect(index > 0 && raw[index - 1] == 0x0D, "bare LF at \(index)")
                #expect(lineLength - 1 <= 78)
                lineLength = 0
            } else {
                if byte == 0x0D { #expect(index + 1 < raw.count && raw[index + 1] == 0x0A, "bare CR at \(index)") }
                lineLength += 1
            }
        }
    }

    @Test func headersCarryDateFromToSubjectAndTheGivenMessageID() throws {
        let mail = ParsedMail.parse(render(try message()))
        #expect(mail.header("Date") == "Wed, 18 Nov 2026 11:06:40 +0000")
        #expect(mail.header("From") == "Meridian Shop <shop@meridian.test>")
        #expect(mail.header("To") == "Ada Lovelace <ada@example.com>")
        #expect(mail.header("Subject") == "Your receipt")
        #expect(mail.header("Message-ID") == "<ntf_123.1@meridian.test>")
        #expect(mail.header("MIME-Version") == "1.0")
        for name in ["Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type"] {
            #expect(mail.headers(name).count == 1, "\(name) must appear exactly once")
        }
    }

    @Test func messageIDIsKeptAndBracketedOnce() throws {
        #expect(ParsedMail.parse(render(try message(messageID: "<abc@x.test>"))).header("Message-ID") == "<abc@x.test>")
        #expect(ParsedMail.parse(render(try message(messageID: "abc@x.test"))).header("Message-ID") == "<abc@x.test>")
        // A line break in the id must not start a new header field.
        let injected = ParsedMail.parse(render(try message(messageID: "abc@x.test\r\nBcc: eve@evil.test")))
        #expect(injected.header("Bcc") == nil)
    }

    @Test func sameMessageRendersToTheSameBytes() throws {
        #expect(try message().rendered() == message().rendered())
        #expect(try message(messageID: "a@x").rendered() != message(messageID: "b@x").rendered())
    }

    @Test func nonASCIISubjectIsEncodedWordsThatDecodeBack() throws {
        let subject = "Ваш заказ №42 оплачен ✅ — merci, Zoë! " + String(repeating: "漢字", count: 30)
        let mail = ParsedMail.parse(render(try message(subject: subject)))
        let raw = try #require(mail.header("Subject"))
        #expect(raw.hasPrefix("=?UTF-8?B?"))
        #expect(MailDecoding.decodeWords(raw) == subject)
        // RFC 2047 §2: an encoded word is at most 75 characters.
        for word in raw.split(separator: " ") { #expect(word.count <= 75) }
    }

    @Test func longASCIISubjectIsFoldedAtWhiteSpaceAndUnfoldsToTheOriginal() throws {
        let subject = (1...40).map { "word\($0)" }.joined(separator: " ")
        let rendered = render(try message(subject: subject))
        #expect(rendered.contains("\r\n word"))
        #expect(ParsedMail.parse(rendered).header("Subject") == subject)
    }

    @Test func headerInjectionThroughSubjectOrHeaderValuesIsImpossible() throws {
        let mail = ParsedMail.parse(
            render(
                try message(
                    subject: "Hi\r\nBcc: eve@evil.test", headers: [("X-Ref", "1\nBcc: eve@evil.test"), ("From", "eve@evil.test"), ("Bad Name", "x")])))
        #expect(mail.header("Bcc") == nil)
        #expect(mail.headers("From").count == 1)
        #expect(mail.header("Bad Name") == nil)
        #expect(mail.header("X-Ref") == "1 Bcc: eve@evil.test")
        #expect(mail.header("Subject") == "Hi Bcc: eve@evil.test")
    }

    @Test func displayNamesAreQuotedOrEncodedWhenNeeded() throws {
        let to = [
            try MailAddress("a@example.com", name: "Lovelace, Ada"),
            try MailAddress("b@example.com", name: "José Müller"),
            try MailAddress("c@example.com", name: #"The "Boss""#),
            try MailAddress("d@example.com"),
        ]
        let mail = ParsedMail.parse(render(try message(to: to)))
        let value = try #require(mail.header("To"))
        #expect(value.contains(#""Lovelace, Ada" <a@example.com>"#))
        #expect(value.contains(#""The \"Boss\"" <c@example.com>"#))
        #expect(!value.contains("José"))
        #expect(MailDecoding.decodeWords(value).contains("José Müller <b@example.com>"))
        #expect(value.hasSuffix("d@example.com"))
    }

    @Test func multipartAlternativeHasTextThenHTMLInQuotedPrintableUTF8() throws {
        let text = "Total: 33,49 €\nThanks,\n  the team  \n"
        let html = "<p>Total: <b>33,49&nbsp;€</b></p>"
        let mail = ParsedMail.parse(render(try message(text: text, html: html)))
        #expect(mail.header("Content-Type")?.hasPrefix("multipart/alternative;") == true)
        let parts = mail.parts
        #expect(parts.count == 2)
        #expect(parts.first?.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(parts.last?.header("Content-Type") == "text/html; charset=utf-8")
        for part in parts { #expect(part.header("Content-Transfer-Encoding") == "quoted-printable") }
        // Line breaks are CRLF on the wire; trailing spaces survive (encoded as =20).
        #expect(MailDecoding.quotedPrintable(parts[0].body) == text.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(MailDecoding.quotedPrintable(parts[1].body) == html)
    }

    @Test func withoutHTMLTheMessageIsOneTextPart() throws {
        let mail = ParsedMail.parse(render(try message(text: "plain only", html: nil)))
        #expect(mail.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(MailDecoding.quotedPrintable(mail.body) == "plain only\r\n")
    }

    @Test func quotedPrintableSoftBreaksLongLinesAndEscapesEquals() throws {
        let line = String(repeating: "a=b ", count: 60) + "é"
        let encoded = String(decoding: QuotedPrintable.encode(line), as: UTF8.self)
        for encodedLine in encoded.components(separatedBy: "\r\n") { #expect(encodedLine.count <= 76) }
        #expect(encoded.contains("=3D"))
        #expect(encoded.contains("=C3=A9"))
        #expect(MailDecoding.quotedPrintable(encoded) == line)
    }

    @Test func theBoundaryNeverOccursInTheBody() throws {
        let msg = try message()
        let hostile = "--\(msg.boundary)\n--\(msg.boundary)--"
        let mail = ParsedMail.parse(render(try message(text: hostile, html: hostile)))
        #expect(mail.parts.count == 2)
        #expect(MailDecoding.quotedPrintable(mail.parts[0].body) == hostile.replacingOccurrences(of: "\n", with: "\r\n"))
    }

    @Test func dotStuffingDoublesLeadingDotsAndTerminates() {
        let block = SMTPDotStuffing.dataBlock(Array("a\r\n.\r\n..b\r\n.c".utf8))
        #expect(String(decoding: block, as: UTF8.self) == "a\r\n..\r\n...b\r\n..c\r\n.\r\n")
        #expect(String(decoding: SMTPDotStuffing.dataBlock(Array(".x\r\n".utf8)), as: UTF8.self) == "..x\r\n.\r\n")
    }

    @Test func aBodyLineWithASingleDotSurvivesRenderingForTheWireToStuff() throws {
        let rendered = try message(text: "before\n.\nafter", html: nil).rendered()
        let lone: [UInt8] = Array("\r\n.\r\n".utf8)
        #expect(rendered.contains(lone))
        let stuffed = SMTPDotStuffing.dataBlock(rendered)
        // The only lone dot left is the terminator.
        #expect(stuffed.ranges(of: lone).count == 1)
        #expect(Array(stuffed.suffix(5)) == lone)
    }
}
