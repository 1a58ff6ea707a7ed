import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request the HTTP/1.1 parser cannot read (a malformed `Content-Length`, a bad header line, an
/// oversize head) with a problem+json 400 (431 for an oversize head) that carries an `X-Request-Id`, then closes
/// the connection: the message's framing is unknown, so nothing after it can be read (RFC 9112 section 6.3).
/// Hummingbird's own answer is a bare 400 without a body or a request id, which a client cannot report.
///
/// Only between requests: when the error comes while a response is still owed (a broken chunked body after
/// its head went to the router), the error goes on to Hummingbird, which answers after that response.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Request heads read minus response ends written.
    private var owed = 0
    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { owed += 1 }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { owed -= 1 }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, owed == 0 else {
            context.fireErrorCaught(error)
            return
        }
        guard !answered else { return }
        answered = true
        let problem = MalformedRequestHandler.problem(for: parserError)
        let body = problem.serializedBody()
        var fields: HTTPFields = [
            .contentType: Problem.contentType, .contentLength: String(body.count), .connection: "close",
        ]
        fields[.requestID] = Identifier.make(prefix: "req")
        context.write(wrapOutboundOut(.head(HTTPResponse(status: problem.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    static func problem(for error: HTTPParserError) -> Problem {
        if case .headerOverflow = error {
            return Problem(
                .requestHeaderFieldsTooLarge, type: Problem.typeBase + "headers-too-large",
                detail: "The request's head is larger than this server accepts.")
        }
        return Problem(
            .badRequest, type: Problem.typeBase + "malformed-request", title: "Malformed request",
            detail: "The request is not valid HTTP/1.1 (\(error)); the connection is closed.")
    }
}
