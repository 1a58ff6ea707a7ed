import AsyncHTTPClient
import MeridianKit
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The gateway's one HTTP client: a keep-alive connection pool per upstream, shared by every request.
enum UpstreamClient {
    static func make(options: GatewayOptions) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        // A proxy passes redirects to its client; following them would answer for a resource nobody asked for.
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.httpVersion = .http1Only
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: options.connectionsPerUpstream)
        // A refused connection fails the waiting requests at once (503 + Retry-After) instead of backing off
        // until the connect timeout: the client can retry sooner than the gateway would.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: TimeAmount(options.connectTimeout))
        // TLS 1.3 only, verifying each upstream against the platform CA: the kernel's one trust setting.
        configuration.tlsConfiguration = PlatformTrust.clientConfiguration()
        // Without an exporting tracer the client's own span is a no-op that still parses the URL with Foundation
        // and casts the stored tracer on every request (about 3% of the gateway's CPU under load, perf); no
        // tracer at all skips that, and `OutboundHTTPSpan.injectsTraceHeaders` treats nil like the no-op tracer.
        if !TracingSetup.isExporting { configuration.tracing.tracer = nil }
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }
}

/// Shuts the client down after graceful shutdown. The application's service group stops its HTTP server
/// first, so in-flight proxied requests have drained by then.
struct UpstreamClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}

/// Loads the rate-limit script into Redis at start-up, and closes the Redis connections of the rate limiter
/// after graceful shutdown, once the server has drained.
struct RedisClientService: Service {
    let client: RedisClient

    func run() async throws {
        // The first decisions would otherwise pay for a connection, a NOSCRIPT and the whole script within the
        // decision timeout. Best effort: a Redis that is away now is the limiter's failure mode to handle.
        _ = try? await client.send(["SCRIPT", "LOAD", .string(RedisRateLimitStore.script.source)])
        try? await gracefulShutdown()
        await client.shutdown()
    }
}
