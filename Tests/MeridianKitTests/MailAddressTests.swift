import Foundation
import Testing

@testable import MeridianKit

@Suite struct MailAddressTests {
    @Test(arguments: [
        "ada@example.com", "first.last+tag@sub.example.co.uk", "x@localhost", #""john doe"@example.com"#,
        "o'brien@example.ie", "user@[192.0.2.1]", "user@[IPv6:2001:db8::1]", "a!#$%&'*+-/=?^_`{|}~@example.com",
    ])
    func acceptsValidAddresses(_ address: String) throws {
        #expect(try MailAddress(address).address == address)
    }

    @Test(arguments: [
        "", "plainaddress", "@example.com", "user@", "a..b@example.com", ".a@example.com", "a.@example.com",
        "user@-example.com", "user@example-.com", "user@exa_mple.com", "user@example..com", "user name@example.com",
        "user@[300.1.1.1]", "jörg@example.com", "user@exämple.com", "a@b@c", "user@example.com\r\nBcc: x@y.z",
        String(repeating: "a", count: 65) + "@example.com", "user@" + String(repeating: "a", count: 64) + ".com",
        #""unterminated@example.com"#,
    ])
    func refusesInvalidAddresses(_ address: String) {
        #expect(throws: MailAddress.Invalid.self) { try MailAddress(address) }
    }

    @Test func refusesAddressesOver254Characters() {
        let label = String(repeating: "a", count: 60)
        let address = "user@" + [label, label, label, label, "example", "com"].joined(separator: ".")
        #expect(address.count > 254)
        #expect(throws: MailAddress.Invalid.self) { try MailAddress(address) }
    }

    @Test func displayNameWithALineBreakIsRefusedAndBlankNamesDropped() throws {
        #expect(throws: MailAddress.Invalid.self) { try MailAddress("a@example.com", name: "Eve\r\nBcc: x@y.z") }
        #expect(try MailAddress("a@example.com", name: "  ").name == nil)
        #expect(try MailAddress("a@example.com", name: " Ada ").name == "Ada")
    }

    @Test func descriptionAndErrorsNeverContainTheLocalPart() throws {
        let address = try MailAddress("secret.person@example.com", name: "Secret Person")
        #expect(!"\(address)".contains("secret"))
        do {
            _ = try MailAddress("secret person@example.com")
            Issue.record("accepted an invalid address")
        } catch {
            #expect(!"\(error)".contains("secret"))
        }
    }

    @Test func senderFromEnvironmentAcceptsNameAndAddress() throws {
        let sender = try SMTPConfiguration.sender(from: ["MERIDIAN_SMTP_FROM": #""Meridian Shop" <shop@example.com>"#])
        #expect(sender?.address == "shop@example.com")
        #expect(sender?.name == "Meridian Shop")
        #expect(try SMTPConfiguration.sender(from: ["MERIDIAN_SMTP_FROM": "shop@example.com"])?.name == nil)
        #expect(try SMTPConfiguration.sender(from: [:]) == nil)
    }
}
