import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// One SMTP session with the server: connected, greeted, encrypted and authenticated by `open`, then used for any
/// number of transactions, one at a time (the pool hands it to one sender at a time).
actor SMTPConnection {
    private let channel: any Channel
    private let replies: NIOLoopBound<SMTPReplyHandler>
    private let configuration: SMTPConfiguration
    /// EHLO keywords (upper-cased) with their parameters; empty after a HELO fallback.
    private(set) var extensions: [String: String] = [:]
    private(set) var isEncrypted: Bool
    private(set) var isBroken = false
    let openedAt = ContinuousClock.now

    private init(channel: any Channel, replies: NIOLoopBound<SMTPReplyHandler>, configuration: SMTPConfiguration) {
        self.channel = channel
        self.replies = replies
        self.configuration = configuration
        self.isEncrypted = configuration.security == .implicitTLS
    }

    static func makeTLSContext(_ configuration: SMTPConfiguration) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        if case .systemAnd(let caFile) = configuration.trustRoots {
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw SMTPError.invalidConfiguration("the CA file cannot be read")
            }
            tls.trustRoots = .default
            tls.additionalTrustRoots = [.file(caFile)]
        }
        do { return try NIOSSLContext(configuration: tls) } catch {
            throw SMTPError.invalidConfiguration("TLS setup failed: \(error)")
        }
    }

    /// Connects and runs the session's opening: greeting, EHLO (HELO when EHLO is refused), STARTTLS and a second
    /// EHLO when configured, then AUTH when credentials are configured.
    static func open(
        configuration: SMTPConfiguration, tlsContext: NIOSSLContext?, group: any EventLoopGroup
    ) async throws -> SMTPConnection {
        let serverName = configuration.hostIsIPAddress ? nil : configuration.host
        let implicitTLS = configuration.security == .implicitTLS
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(configuration.timeouts.connect)
            .channelOption(.socketOption(.so_keepalive), value: 1)
        let opened: (channel: any Channel, replies: NIOLoopBound<SMTPReplyHandler>)
        do {
            // The reply handler is kept from the initializer rather than looked up in the pipeline afterwards:
            // with implicit TLS a refused certificate closes the channel (and empties its pipeline) right after
            // connecting, and the handler is what remembers why (`SMTPError.tlsFailed`).
            opened = try await bootstrap.connect(host: configuration.host, port: configuration.port) {
                channel in
                channel.eventLoop.makeCompletedFuture {
                    if implicitTLS, let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tlsContext, serverHostname: serverName))
                    }
                    let handler = SMTPReplyHandler()
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
        } catch {
            throw SMTPError.connectionFailed(String(describing: error))
        }
        let (channel, replies) = opened
        let connection = SMTPConnection(channel: channel, replies: replies, configuration: configuration)
        do {
            try await connection.start(tlsContext: tlsContext, serverName: serverName)
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    private func start(tlsContext: NIOSSLContext?, serverName: String?) async throws {
        let greeting = try await exchange(nil, timeout: configuration.timeouts.greeting, stage: "greeting")
        guard greeting.code == 220 else { throw greeting }
        try await greet()
        if configuration.security == .startTLS {
            guard extensions["STARTTLS"] != nil, let tlsContext else { throw SMTPError.startTLSUnavailable }
            let reply = try await exchange("STARTTLS", timeout: configuration.timeouts.command, stage: "STARTTLS")
            guard reply.code == 220 else { throw SMTPError.startTLSUnavailable }
            let replies = self.replies
            let channel = self.channel
            try await channel.eventLoop.submit {
                guard !replies.value.hasBufferedInput else {
                    throw SMTPError.protocolViolation("data received before the TLS handshake")
                }
                try channel.pipeline.syncOperations.addHandler(
                    NIOSSLClientHandler(context: tlsContext, serverHostname: serverName), position: .first)
            }.get()
            isEncrypted = true
            // RFC 3207 §4.2: everything learnt before the handshake is forgotten; ask again.
            try await greet()
        }
        if let username = configuration.username, let password = configuration.password {
            guard isEncrypted || configuration.isLoopback else { throw SMTPError.credentialsOverPlaintext }
            try await authenticate(username: username, password: password)
        }
    }

    private func greet() async throws {
        let ehlo = try await exchange(
            "EHLO \(configuration.heloName)", timeout: configuration.timeouts.command, stage: "EHLO")
        if ehlo.code == 250 {
            extensions = Self.parseExtensions(ehlo.text)
            return
        }
        guard ehlo.isPermanent else { throw ehlo }
        let helo = try await exchange(
            "HELO \(configuration.heloName)", timeout: configuration.timeouts.command, stage: "HELO")
        guard helo.code == 250 else { throw helo }
        extensions = [:]
    }

    static func parseExtensions(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            // Old servers advertise `AUTH=PLAIN LOGIN`; treat it as `AUTH PLAIN LOGIN`.
            let normalised = trimmed.uppercased().hasPrefix("AUTH=") ? "AUTH " + trimmed.dropFirst(5) : trimmed
            let parts = normalised.split(separator: " ", maxSplits: 1)
            guard let keyword = parts.first else { continue }
            let parameters = parts.count > 1 ? String(parts[1]) : ""
            let key = keyword.uppercased()
            result[key] = [result[key], parameters].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
        }
        return result
    }

    private func authenticate(username: String, password: String) async throws {
        let mechanisms = Set((extensions["AUTH"] ?? "").uppercased().split(separator: " ").map(String.init))
        let timeout = configuration.timeouts.command
        if mechanisms.contains("PLAIN") {
            let token = Data(([0] + Array(username.utf8) + [0] + Array(password.utf8))).base64EncodedString()
            let reply = try await exchange("AUTH PLAIN \(token)", timeout: timeout, stage: "AUTH")
            guard reply.code == 235 else { throw reply }
        } else if mechanisms.contains("LOGIN") {
            var reply = try await exchange("AUTH LOGIN", timeout: timeout, stage: "AUTH")
            guard reply.code == 334 else { throw reply }
            reply = try await exchange(Data(username.utf8).base64EncodedString(), timeout: timeout, stage: "AUTH")
            guard reply.code == 334 else { throw reply }
            reply = try await exchange(Data(password.utf8).base64EncodedString(), timeout: timeout, stage: "AUTH")
            guard reply.code == 235 else { throw reply }
        } else {
            throw SMTPError.authenticationUnavailable
        }
    }

    /// One mail transaction: MAIL FROM, RCPT TO for each recipient (each answered on its own), DATA. A reply that
    /// refuses the whole message (MAIL, DATA, the end of data) is thrown; refused recipients are in the result.
    func send(_ message: MailMessage, rendered: [UInt8]) async throws -> SMTPSendResult {
        var parameters = ""
        if let limit = extensions["SIZE"].flatMap({ Int($0.split(separator: " ").first ?? "") }), limit > 0 {
            guard rendered.count <= limit else { throw SMTPError.messageTooLarge(size: rendered.count, limit: limit) }
        }
        if extensions["SIZE"] != nil { parameters += " SIZE=\(rendered.count)" }
        if rendered.contains(where: { $0 >= 0x80 }) {
            // `rendered()` is 7-bit; this only matters if that ever changes.
            guard extensions["8BITMIME"] != nil else {
                throw SMTPError.protocolViolation("8-bit message and the server lacks 8BITMIME")
            }
            parameters += " BODY=8BITMIME"
        }
        let mail = try await exchange(
            "MAIL FROM:<\(message.from.address)>\(parameters)", timeout: configuration.timeouts.mail, stage: "MAIL")
        guard mail.code == 250 else { throw mail }

        var accepted: [MailAddress] = []
        var rejected: [(MailAddress, SMTPReply)] = []
        var seen: Set<String> = []
        for recipient in message.to where seen.insert(recipient.address.lowercased()).inserted {
            let reply = try await exchange(
                "RCPT TO:<\(recipient.address)>", timeout: configuration.timeouts.recipient, stage: "RCPT")
            if reply.code == 250 || reply.code == 251 { accepted.append(recipient) } else { rejected.append((recipient, reply)) }
        }
        guard !accepted.isEmpty else {
            try await reset()
            return SMTPSendResult(accepted: [], rejected: rejected, dataReply: nil)
        }
        let start = try await exchange("DATA", timeout: configuration.timeouts.dataInitiation, stage: "DATA")
        guard start.code == 354 else { throw start }
        let end = try await exchange(
            bytes: SMTPDotStuffing.dataBlock(rendered), timeout: configuration.timeouts.dataTermination,
            stage: "end of data")
        guard end.code == 250 else { throw end }
        return SMTPSendResult(accepted: accepted, rejected: rejected, dataReply: end)
    }

    /// RSET: ends any transaction; also the health check before a pooled connection is reused.
    func reset() async throws {
        let reply = try await exchange("RSET", timeout: configuration.timeouts.command, stage: "RSET")
        guard reply.code == 250 else { throw reply }
    }

    func noop() async throws {
        let reply = try await exchange("NOOP", timeout: configuration.timeouts.command, stage: "NOOP")
        guard reply.code == 250 else { throw reply }
    }

    /// QUIT politely (briefly bounded), then close.
    func quit() async {
        if !isBroken {
            _ = try? await exchange("QUIT", timeout: .seconds(5), stage: "QUIT")
        }
        await close()
    }

    func close() async {
        isBroken = true
        try? await channel.close()
    }

    private func exchange(_ command: String?, timeout: TimeAmount, stage: String) async throws -> SMTPReply {
        try await exchange(bytes: command.map { Array(($0 + "\r\n").utf8) }, timeout: timeout, stage: stage)
    }

    /// Writes `bytes` (if any) and waits for the next reply. A timeout or a broken connection leaves the session
    /// in an unknown state, so the channel is closed and the connection marked broken.
    private func exchange(bytes: [UInt8]?, timeout: TimeAmount, stage: String) async throws -> SMTPReply {
        guard !isBroken else { throw SMTPError.connectionClosed }
        let channel = self.channel
        let replies = self.replies
        do {
            let reply = try await channel.eventLoop.flatSubmit { () -> EventLoopFuture<SMTPReply> in
                let future = replies.value.nextReply(on: channel.eventLoop)
                if let bytes {
                    channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: nil)
                }
                let deadline = channel.eventLoop.scheduleTask(in: timeout) {
                    replies.value.fail(SMTPError.timeout(stage: stage))
                    channel.close(promise: nil)
                }
                future.whenComplete { _ in deadline.cancel() }
                return future
            }.get()
            // 421: the server is closing the session (RFC 5321 §3.8); nothing more can be sent on it.
            if reply.code == 421 { await close() }
            return reply
        } catch {
            isBroken = true
            channel.close(promise: nil)
            throw SMTPReplyHandler.classify(error)
        }
    }
}
