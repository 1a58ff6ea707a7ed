import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import MeridianKit

/// `SMTPClient` against a real SMTP server (aiosmtpd, see `SMTPTestServer`): TLS with a test CA, AUTH, scripted
/// failures, per-recipient results and connection reuse.
@Suite(.serialized, .enabled(if: SMTPTestServer.isAvailable, "needs .venv with aiosmtpd (scripts/test makes it)"))
struct MailSMTPClientTests {
    static let logger = Logger(label: "meridian.test.smtp")

    func client(
        _ server: SMTPTestServer, security: SMTPConfiguration.Security = .startTLS, host: String = "localhost",
        username: String? = "mailer", password: String? = "s3cret", trust: String? = SMTPTestServer.caFile,
        poolSize: Int = 2
    ) throws -> SMTPClient {
        try SMTPClient(
            configuration: SMTPConfiguration(
                host: host, port: server.port, security: security, username: username, password: password,
                heloName: "meridian.test", trustRoots: trust.map { .systemAnd(caFile: $0) } ?? .system,
                timeouts: .uniform(.seconds(20)), poolSize: poolSize),
            logger: Self.logger)
    }

    func message(
        to recipients: [String] = ["ada@example.com"], text: String = "Hello\n.\n..two dots\nBye",
        id: String = UUID().uuidString + "@meridian.test"
    ) throws -> MailMessage {
        MailMessage(
            from: try MailAddress("shop@meridian.test", name: "Meridian"),
            to: try recipients.map { try MailAddress($0) }, subject: "Grüße — your order", text: text,
            html: "<p>Hello</p>", messageID: id)
    }

    @Test func startTLSWithTheTestCAAndAuthPlainDeliversTheExactBytes() async throws {
        let server = try SMTPTestServer.start(auth: ["mailer:s3cret"])
        defer { server.stop() }
        let client = try client(server)
        let message = try message(to: ["ada@example.com", "bob@example.org"])
        let result = try await client.send(message)
        await client.shutdown()

        #expect(result.accepted.map(\.address) == ["ada@example.com", "bob@example.org"])
        #expect(result.rejected.isEmpty)
        #expect(result.dataReply?.code == 250)
        let state = try server.state()
        #expect(state.logins == ["PLAIN:mailer"])
        let received = try #require(state.messages.first)
        #expect(state.messages.count == 1)
        #expect(received.encrypted)
        #expect(received.login == "mailer")
        #expect(received.mail_from == "shop@meridian.test")
        #expect(received.recipients == ["ada@example.com", "bob@example.org"])
        // Dot-stuffing is undone by the server: what it stored is exactly what we rendered.
        #expect(received.bytes == message.rendered())
        let text = ParsedMail.parse(received.text).parts.first.map { MailDecoding.quotedPrintable($0.body) }
        #expect(text == "Hello\r\n.\r\n..two dots\r\nBye")
    }

    @Test func authLoginIsUsedWhenItIsTheOnlyMechanism() async throws {
        let server = try SMTPTestServer.start(auth: ["mailer:s3cret"], mechanisms: ["LOGIN"])
        defer { server.stop() }
        let client = try client(server)
        _ = try await client.send(try message())
        await client.shutdown()
        #expect(try server.state().logins == ["LOGIN:mailer"])
        #expect(try server.state().messages.count == 1)
    }

    @Test func aWrongPasswordIsAPermanentReply() async throws {
        let server = try SMTPTestServer.start(auth: ["mailer:s3cret"])
        defer { server.stop() }
        let client = try client(server, password: "wrong")
        let error = await #expect(throws: SMTPReply.self) { try await client.send(try message()) }
        #expect(error?.code == 535)
        #expect(error?.isTransient == false)
        #expect(try server.state().messages.isEmpty)
    }

    @Test func implicitTLSDelivers() async throws {
        let server = try SMTPTestServer.start(security: "tls", auth: ["mailer:s3cret"])
        defer { server.stop() }
        let client = try client(server, security: .implicitTLS, host: "127.0.0.1")
        _ = try await client.send(try message())
        await client.shutdown()
        let state = try server.state()
        #expect(state.messages.count == 1)
        #expect(state.messages.first?.encrypted == true)
    }

    @Test(arguments: [SMTPConfiguration.Security.startTLS, .implicitTLS])
    func aCertificateFromAnUntrustedCAIsRefused(_ security: SMTPConfiguration.Security) async throws {
        let server = try SMTPTestServer.start(security: security == .startTLS ? "starttls" : "tls", auth: ["mailer:s3cret"])
        defer { server.stop() }
        let client = try client(server, security: security, trust: SMTPTestServer.otherCAFile)
        let error = await #expect(throws: SMTPError.self) { try await client.send(try message()) }
        guard case .tlsFailed = error else {
            Issue.record("expected tlsFailed, got \(String(describing: error))")
            return
        }
        let state = try server.state()
        #expect(state.logins.isEmpty)
        #expect(state.messages.isEmpty)
    }

    @Test func startTLSThatIsNotOfferedIsNeverSkipped() async throws {
        let server = try SMTPTestServer.start(security: "none")
        defer { server.stop() }
        let client = try client(server, security: .startTLS, username: nil, password: nil)
        let error = await #expect(throws: SMTPError.self) { try await client.send(try message()) }
        #expect(error == .startTLSUnavailable)
        #expect(try server.state().messages.isEmpty)
    }

    @Test func plainConnectionToLoopbackMayAuthenticate() async throws {
        let server = try SMTPTestServer.start(security: "none", auth: ["mailer:s3cret"])
        defer { server.stop() }
        let client = try client(server, security: .none, host: "127.0.0.1")
        _ = try await client.send(try message())
        await client.shutdown()
        #expect(try server.state().logins == ["PLAIN:mailer"])
        #expect(try server.state().messages.first?.encrypted == false)
    }

    @Test func aTransient451IsReportedAndTheRetryDeliversOnce() async throws {
        let server = try SMTPTestServer.start(
            auth: ["mailer:s3cret"], rules: [#"{"command": "DATA", "reply": "451 4.3.0 Try again later", "times": 1}"#])
        defer { server.stop() }
        let client = try client(server)
        let message = try message()
        let error = await #expect(throws: SMTPReply.self) { try await client.send(message) }
        #expect(error?.code == 451)
        #expect(error?.isTransient == true)
        #expect(error?.enhancedStatus == "4.3.0")
        #expect(try server.state().messages.isEmpty)

        let result = try await client.send(message)
        await client.shutdown()
        #expect(result.accepted.count == 1)
        let state = try server.state()
        #expect(state.messages.count == 1)
        #expect(state.messages.first?.bytes == message.rendered())
        // After the refusal RSET kept the session usable: the retry went over the same connection.
        #expect(state.connections.count == 1)
    }

    @Test func a550IsPermanent() async throws {
        let server = try SMTPTestServer.start(
            auth: ["mailer:s3cret"], rules: [#"{"command": "DATA", "reply": "550 5.7.1 Message refused"}"#])
        defer { server.stop() }
        let client = try client(server)
        let error = await #expect(throws: SMTPReply.self) { try await client.send(try message()) }
        await client.shutdown()
        #expect(error?.code == 550)
        #expect(error?.isPermanent == true)
        #expect(error?.isTransient == false)
        #expect(try server.state().messages.isEmpty)
    }

    @Test func recipientsAreAnsweredOneByOne() async throws {
        let server = try SMTPTestServer.start(
            auth: ["mailer:s3cret"],
            rules: [
                #"{"command": "RCPT", "match": "nobody", "reply": "550 5.1.1 No such user"}"#,
                #"{"command": "RCPT", "match": "full", "reply": "452 4.2.2 Mailbox full"}"#,
            ])
        defer { server.stop() }
        let client = try client(server)
        let result = try await client.send(
            try message(to: ["ada@example.com", "nobody@example.com", "full@example.com", "bob@example.com"]))
        await client.shutdown()
        #expect(result.accepted.map(\.address) == ["ada@example.com", "bob@example.com"])
        let rejected = Dictionary(uniqueKeysWithValues: result.rejected.map { ($0.0.address, $0.1) })
        #expect(rejected["nobody@example.com"]?.code == 550)
        #expect(rejected["nobody@example.com"]?.isPermanent == true)
        #expect(rejected["nobody@example.com"]?.enhancedStatus == "5.1.1")
        #expect(rejected["full@example.com"]?.isTransient == true)
        #expect(try server.state().messages.first?.recipients == ["ada@example.com", "bob@example.com"])
    }

    @Test func whenEveryRecipientIsRefusedNothingIsSent() async throws {
        let server = try SMTPTestServer.start(
            auth: ["mailer:s3cret"], rules: [#"{"command": "RCPT", "reply": "550 5.1.1 No such user"}"#])
        defer { server.stop() }
        let client = try client(server)
        let result = try await client.send(try message(to: ["a@example.com", "b@example.com"]))
        await client.shutdown()
        #expect(result.accepted.isEmpty)
        #expect(result.rejected.count == 2)
        #expect(result.dataReply == nil)
        #expect(try server.state().messages.isEmpty)
    }

    @Test func aConnectionDroppedMidDataIsTransientAndTheNextSendUsesANewConnection() async throws {
        let server = try SMTPTestServer.start(
            auth: ["mailer:s3cret"], rules: [#"{"command": "DATA", "action": "drop", "times": 1}"#])
        defer { server.stop() }
        let client = try client(server)
        let message = try message()
        let error = await #expect(throws: SMTPError.self) { try await client.send(message) }
        #expect(error == .connectionClosed)
        #expect(error?.isTransient == true)

        _ = try await client.send(message)
        await client.shutdown()
        let state = try server.state()
        #expect(state.messages.count == 1)
        #expect(state.connections.count == 2)
    }

    @Test func sequentialSendsReuseOnePooledConnection() async throws {
        let server = try SMTPTestServer.start(auth: ["mailer:s3cret"])
        defer { server.stop() }
        let client = try client(server)
        for _ in 0..<3 { _ = try await client.send(try message()) }
        await client.shutdown()
        let state = try server.state()
        #expect(state.messages.count == 3)
        #expect(state.connections.count == 1)
        #expect(state.logins.count == 1)
    }

    @Test func concurrentSendsStayWithinThePoolSize() async throws {
        let server = try SMTPTestServer.start(auth: ["mailer:s3cret"])
        defer { server.stop() }
        let client = try client(server, poolSize: 2)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 { group.addTask { _ = try await client.send(try self.message()) } }
            try await group.waitForAll()
        }
        await client.shutdown()
        let state = try server.state()
        #expect(state.messages.count == 6)
        #expect(state.connections.count <= 2)
    }

    @Test func aRefusedEHLOFallsBackToHELO() async throws {
        let server = try SMTPTestServer.start(
            security: "none", rules: [#"{"command": "EHLO", "reply": "502 5.5.1 EHLO not implemented"}"#])
        defer { server.stop() }
        let client = try client(server, security: .none, host: "127.0.0.1", username: nil, password: nil)
        _ = try await client.send(try message())
        await client.shutdown()
        #expect(try server.state().messages.count == 1)
    }

    @Test func aMessageOverTheServersSizeLimitIsNotSent() async throws {
        let server = try SMTPTestServer.start(auth: ["mailer:s3cret"], sizeLimit: 2000)
        defer { server.stop() }
        let client = try client(server)
        let error = await #expect(throws: SMTPError.self) {
            try await client.send(try message(text: String(repeating: "long text ", count: 400)))
        }
        await client.shutdown()
        guard case .messageTooLarge(let size, let limit) = error else {
            Issue.record("expected messageTooLarge, got \(String(describing: error))")
            return
        }
        #expect(limit == 2000)
        #expect(size > 2000)
        #expect(try server.state().messages.isEmpty)
    }

    @Test func afterShutdownSendsFail() async throws {
        let server = try SMTPTestServer.start(auth: ["mailer:s3cret"])
        defer { server.stop() }
        let client = try client(server)
        _ = try await client.send(try message())
        await client.shutdown()
        let error = await #expect(throws: SMTPError.self) { try await client.send(try message()) }
        #expect(error == .shutDown)
    }
}

/// Rules of the client that need no SMTP server.
@Suite struct SMTPClientRulesTests {
    @Test func credentialsAreNeverSentInPlainTextToAnotherHost() throws {
        let configuration = SMTPConfiguration(
            host: "mail.example.com", security: .none, username: "u", password: "p")
        #expect(throws: SMTPError.credentialsOverPlaintext) { try configuration.validated() }
        #expect(throws: SMTPError.credentialsOverPlaintext) {
            try SMTPClient(configuration: configuration, logger: Logger(label: "test"))
        }
        for host in ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"] {
            #expect(throws: Never.self) {
                try SMTPConfiguration(host: host, security: .none, username: "u", password: "p").validated()
            }
        }
    }

    @Test func configurationComesFromTheMeridianSMTPVariables() throws {
        let configuration = try #require(
            try SMTPConfiguration.fromEnvironment([
                "MERIDIAN_SMTP_HOST": "smtp.example.com", "MERIDIAN_SMTP_SECURITY": "tls",
                "MERIDIAN_SMTP_USERNAME": "u", "MERIDIAN_SMTP_PASSWORD": "p", "MERIDIAN_SMTP_CA_FILE": "/etc/ca.pem",
            ]))
        #expect(configuration.port == 465)
        #expect(configuration.security == .implicitTLS)
        #expect(configuration.trustRoots == .systemAnd(caFile: "/etc/ca.pem"))
        #expect(try SMTPConfiguration.fromEnvironment(["MERIDIAN_SMTP_HOST": "h"])?.port == 587)
        #expect(try SMTPConfiguration.fromEnvironment([:]) == nil)
        #expect(throws: SMTPError.self) {
            try SMTPConfiguration.fromEnvironment(["MERIDIAN_SMTP_HOST": "h", "MERIDIAN_SMTP_SECURITY": "ssl3"])
        }
        #expect(throws: SMTPError.self) {
            try SMTPConfiguration.fromEnvironment(["MERIDIAN_SMTP_HOST": "h", "MERIDIAN_SMTP_USERNAME": "u"])
        }
    }

    @Test func repliesAreClassifiedByTheirFirstDigit() {
        #expect(SMTPReply(code: 451, text: "4.3.0 later").isTransient)
        #expect(SMTPReply(code: 421, text: "closing").isTransient)
        #expect(!SMTPReply(code: 550, text: "5.1.1 unknown").isTransient)
        #expect(SMTPReply(code: 550, text: "5.1.1 unknown").enhancedStatus == "5.1.1")
        #expect(SMTPReply(code: 550, text: "4.1.1 mismatched class").enhancedStatus == nil)
        #expect(SMTPReply(code: 250, text: "OK").enhancedStatus == nil)
        // The description is what reaches logs: never the reply text (it often echoes an address).
        #expect(!"\(SMTPReply(code: 550, text: "5.1.1 <ada@example.com> unknown"))".contains("ada"))
    }

    @Test func ehloExtensionsAreParsedIncludingTheOldAuthForm() {
        let extensions = SMTPConnection.parseExtensions(
            "smtp.test greets you\nSIZE 1000\n8BITMIME\nAUTH=LOGIN\nAUTH PLAIN\nstarttls")
        #expect(extensions["SIZE"] == "1000")
        #expect(extensions["8BITMIME"] == "")
        #expect(extensions["STARTTLS"] == "")
        #expect(Set((extensions["AUTH"] ?? "").split(separator: " ")) == ["LOGIN", "PLAIN"])
    }

    @Test func aServerThatNeverGreetsTimesOut() async throws {
        // A listener that accepts and never says a word.
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { listener.close(promise: nil) }
        let port = try #require(listener.localAddress?.port)
        let client = try SMTPClient(
            configuration: SMTPConfiguration(
                host: "127.0.0.1", port: port, security: .none, timeouts: .uniform(.milliseconds(300))),
            logger: Logger(label: "test"))
        let error = await #expect(throws: SMTPError.self) {
            try await client.send(
                MailMessage(
                    from: try MailAddress("a@example.com"), to: [try MailAddress("b@example.com")], subject: "s",
                    text: "t", html: nil, messageID: "x@y"))
        }
        #expect(error == .timeout(stage: "greeting"))
    }
}
