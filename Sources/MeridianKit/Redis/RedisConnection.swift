import NIOCore
import NIOPosix

/// A command on its way to the server and the promise its reply completes.
struct RedisCommand: Sendable {
    let bytes: ByteBuffer
    let promise: EventLoopPromise<RESPValue>
}

/// Matches replies to commands on one connection. Redis answers in order, so pending commands form a queue:
/// many callers can have commands in flight at once (pipelining) without waiting for each other's replies.
/// When the connection ends or breaks, every pending command fails.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisCommand
    typealias OutboundOut = ByteBuffer

    private var pending = CircularBuffer<EventLoopPromise<RESPValue>>(initialCapacity: 16)
    private var failure: RedisUnavailable?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = unwrapOutboundIn(data)
        if let failure {
            command.promise.fail(failure)
            promise?.fail(failure)
            return
        }
        pending.append(command.promise)
        context.write(wrapOutboundOut(command.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        guard let promise = pending.popFirst() else {
            // A reply nobody asked for (a RESP3 push, say): the queue would be off by one from now on.
            if case .set = value { return }
            failAll(RedisUnavailable(reason: .protocolViolation, detail: "unexpected reply"), context: context)
            return
        }
        promise.succeed(value)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisUnavailable(reason: .connectionClosed, detail: "the connection closed"), context: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let reason: RedisUnavailable.Reason =
            error is RESPDecoder.ProtocolViolation ? .protocolViolation : .connectionClosed
        failAll(RedisUnavailable(reason: reason, detail: String(describing: error)), context: context)
    }

    private func failAll(_ error: RedisUnavailable, context: ChannelHandlerContext?) {
        if failure == nil { failure = error }
        while let promise = pending.popFirst() { promise.fail(error) }
        context?.close(promise: nil)
    }
}

/// One TCP connection to Redis. Commands may be sent from any task; the channel serialises them.
final class RedisConnection: Sendable {
    let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    var isActive: Bool { channel.isActive }

    static func connect(
        host: String, port: Int, connectTimeout: Duration, group: any EventLoopGroup
    ) async throws -> RedisConnection {
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
                    try channel.pipeline.syncOperations.addHandler(RedisCommandHandler())
                }
            }
        do {
            return RedisConnection(channel: try await bootstrap.connect(host: host, port: port).get())
        } catch {
            throw RedisUnavailable(reason: .connect, detail: String(describing: error))
        }
    }

    /// Sends one command and waits for its reply at most `timeout`. A reply that does not arrive in time closes
    /// the connection: later replies could no longer be matched to their commands.
    func send(_ arguments: [RESPArgument], timeout: Duration) async throws -> RESPValue {
        var bytes = channel.allocator.buffer(capacity: 64)
        RESPEncoder.encode(arguments, into: &bytes)
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        let channel = channel
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            promise.fail(RedisUnavailable(reason: .timeout, detail: "no reply within \(timeout)"))
            channel.close(promise: nil)
        }
        channel.writeAndFlush(RedisCommand(bytes: bytes, promise: promise), promise: nil)
        defer { deadline.cancel() }
        return try await promise.futureResult.get()
    }

    func close() async {
        try? await channel.close()
    }
}
