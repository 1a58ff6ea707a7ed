import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// Sends mail through one SMTP server over pooled sessions. Run it as a `Service` (or call `shutdown()`) so that
/// idle sessions end with QUIT.
///
/// Logs carry codes, stages and counts only: never an address, a credential, a subject or a body.
public final class SMTPClient: Sendable, Service {
    public let configuration: SMTPConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let tlsContext: NIOSSLContext?
    private let pool: SMTPConnectionPool

    public init(
        configuration: SMTPConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) throws {
        self.configuration = try configuration.validated()
        self.group = eventLoopGroup
        self.logger = logger
        self.tlsContext = configuration.security == .none ? nil : try SMTPConnection.makeTLSContext(configuration)
        self.pool = SMTPConnectionPool(size: configuration.poolSize)
    }

    /// Delivers one message. Throws an `SMTPReply` when the server refuses the message as a whole (MAIL FROM,
    /// DATA or the end of data; `isTransient` tells whether to retry), an `SMTPError` when the session fails.
    /// Recipients refused one by one are in the result's `rejected`, with their replies.
    public func send(_ message: MailMessage) async throws -> SMTPSendResult {
        try await SMTPSendSpan.run(configuration: configuration) { try await self.sendInSession(message) }
    }

    /// `send` without its span: one message over a pooled session.
    private func sendInSession(_ message: MailMessage) async throws -> SMTPSendResult {
        let rendered = message.rendered()
        guard let lease = await pool.acquire() else { throw SMTPError.shutDown }
        let connection: SMTPConnection
        do {
            connection = try await connectionFor(lease)
        } catch {
            await giveBack(nil)
            logger.warning("smtp session failed to open", metadata: ["smtp.error": "\(error)"])
            throw error
        }
        do {
            let result = try await connection.send(message, rendered: rendered)
            await giveBack(connection)
            logger.debug(
                "smtp message sent",
                metadata: ["smtp.accepted": "\(result.accepted.count)", "smtp.rejected": "\(result.rejected.count)"])
            return result
        } catch let reply as SMTPReply {
            // The session is still in step with the server: end the transaction and keep it, unless it is closing.
            var reusable = reply.code != 421
            if reusable { reusable = (try? await connection.reset()) != nil }
            if !reusable { await connection.close() }
            await giveBack(reusable ? connection : nil)
            logger.info("smtp message refused", metadata: ["smtp.reply": "\(reply)"])
            throw reply
        } catch {
            await connection.close()
            await giveBack(nil)
            logger.warning("smtp session failed", metadata: ["smtp.error": "\(error)"])
            throw error
        }
    }

    private func connectionFor(_ lease: SMTPConnectionPool.Lease) async throws -> SMTPConnection {
        if case .reuse(let connection, let idleSince) = lease {
            if await !connection.isBroken, NIODeadline.now() - idleSince < configuration.idleTimeout,
                (try? await connection.reset()) != nil
            {
                return connection
            }
            await connection.quit()
        }
        return try await SMTPConnection.open(configuration: configuration, tlsContext: tlsContext, group: group)
    }

    private func giveBack(_ connection: SMTPConnection?) async {
        let reusable: SMTPConnection?
        if let connection, await !connection.isBroken { reusable = connection } else { reusable = nil }
        if let orphan = await pool.release(reusable) { await orphan.quit() }
    }

    /// Opens a session and closes it again: checks host, TLS and credentials (for a readiness probe or a CLI check).
    public func verify() async throws {
        let connection = try await SMTPConnection.open(configuration: configuration, tlsContext: tlsContext, group: group)
        await connection.quit()
    }

    /// Ends the idle sessions with QUIT; later sends fail with `SMTPError.shutDown`.
    public func shutdown() async {
        for connection in await pool.shutDown() { await connection.quit() }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }
}
