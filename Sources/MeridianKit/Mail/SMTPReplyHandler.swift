import NIOCore
import NIOSSL

/// The last handler of an SMTP channel: cuts the inbound bytes into reply lines, assembles multi-line replies
/// (`250-…` continued, `250 …` final) and hands each complete reply to the oldest waiting command, or keeps it
/// until one asks (the greeting arrives before anybody asks).
///
/// Lives on its channel's event loop only; `SMTPConnection` reaches it through `NIOLoopBound`.
final class SMTPReplyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    /// A reply line longer than this is not SMTP (RFC 5321 §4.5.3.1.5 says 512 octets); stop buffering.
    static let maxLineLength = 4096

    private var buffer: [UInt8] = []
    private var lines: [String] = []
    private var currentCode: Int?
    private var ready: [SMTPReply] = []
    private var waiting: [EventLoopPromise<SMTPReply>] = []
    private var failure: (any Error)?
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// The next reply, already received or still to come.
    func nextReply(on eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        if !ready.isEmpty { return eventLoop.makeSucceededFuture(ready.removeFirst()) }
        if let failure { return eventLoop.makeFailedFuture(failure) }
        let promise = eventLoop.makePromise(of: SMTPReply.self)
        waiting.append(promise)
        return promise.futureResult
    }

    /// True when bytes arrived that no reply has consumed yet. After the 220 to STARTTLS that would be plain text
    /// injected before the TLS handshake (CVE-2011-0411), which must not be read as if it came over TLS.
    var hasBufferedInput: Bool { !buffer.isEmpty || !lines.isEmpty || !ready.isEmpty }

    func fail(_ error: any Error) {
        if failure == nil { failure = error }
        let promises = waiting
        waiting = []
        for promise in promises { promise.fail(failure ?? error) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer += bytes.readBytes(length: bytes.readableBytes) ?? []
        while let newline = buffer.firstIndex(of: 0x0A) {
            var line = Array(buffer[..<newline])
            buffer.removeSubrange(...newline)
            if line.last == 0x0D { line.removeLast() }
            do { try consume(line) } catch {
                fail(error)
                context.close(promise: nil)
                return
            }
        }
        if buffer.count > Self.maxLineLength {
            fail(SMTPError.protocolViolation("reply line too long"))
            context.close(promise: nil)
        }
    }

    private func consume(_ line: [UInt8]) throws {
        guard line.count >= 3, let code = Int(String(decoding: line.prefix(3), as: UTF8.self)),
            (200...599).contains(code)
        else { throw SMTPError.protocolViolation("malformed reply line") }
        let separator = line.count > 3 ? line[3] : UInt8(ascii: " ")
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
            throw SMTPError.protocolViolation("malformed reply line")
        }
        if let currentCode, currentCode != code { throw SMTPError.protocolViolation("reply code changed mid-reply") }
        currentCode = code
        lines.append(String(decoding: line.dropFirst(4), as: UTF8.self))
        guard separator == UInt8(ascii: " ") else { return }
        let reply = SMTPReply(code: code, text: lines.joined(separator: "\n"))
        lines = []
        currentCode = nil
        if waiting.isEmpty { ready.append(reply) } else { waiting.removeFirst().succeed(reply) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(SMTPError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(SMTPReplyHandler.classify(error))
        context.close(promise: nil)
    }

    static func classify(_ error: any Error) -> any Error {
        if error is SMTPError || error is SMTPReply { return error }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            return SMTPError.tlsFailed(String(describing: error))
        }
        return SMTPError.connectionClosed
    }
}
