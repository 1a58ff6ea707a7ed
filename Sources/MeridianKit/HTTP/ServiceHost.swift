import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Whether a service should receive traffic: true once migrations are done, false again from the moment
/// graceful shutdown starts, so load balancers stop sending before in-flight requests drain.
public final class Readiness: Sendable {
    private let ready = Atomic<Bool>(false)
    public init() {}
    public var isReady: Bool { ready.load(ordering: .acquiring) }
    public func set(_ value: Bool) { ready.store(value, ordering: .releasing) }
}

/// Builds what every service has in common: the router with the shared middleware (request id, metrics,
/// problem+json errors) and the operational routes, and the application that serves it.
public enum ServiceHost {
    /// A router with `/healthz`, `/readyz` and `/metrics`. Routes added afterwards get the shared middleware.
    public static func makeRouter(
        metrics: ServiceMetrics, readiness: Readiness
    ) -> Router<MeridianRequestContext> {
        let router = Router(context: MeridianRequestContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.add(middleware: ProblemMiddleware())
        router.get("/healthz") { _, _ in try Response.json(["status": "ok"]) }
        router.get("/readyz") { _, _ -> Response in
            guard readiness.isReady else {
                throw Problem(.serviceUnavailable, detail: "The service is starting or shutting down.")
            }
            return try Response.json(["status": "ready"])
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        return router
    }

    /// The HTTP server for a service. `prepare` (migrations) runs after `services` (the database) have
    /// started and before the listener accepts traffic; readiness turns true after it.
    public static func makeApplication(
        router: Router<MeridianRequestContext>,
        listen: ListenAddress,
        services: [any Service],
        readiness: Readiness,
        logger: Logger,
        tls: ServerCertificate? = nil,
        // Where the served certificate's expiry is exported (`tls_certificate_expiry_timestamp_seconds`).
        metrics: ServiceMetrics? = nil,
        // How long a connection may send nothing (between requests, or within a slow request) before it closes.
        idleTimeout: Duration = .seconds(75),
        prepare: @escaping @Sendable () async throws -> Void = {},
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        if let tls, let metrics { metrics.exportExpiry(of: tls) }
        var app = Application(
            // Every request in a server span; the logger's label is the service's name (ServiceUnit names it).
            router: TracedRouter(router, service: logger.label),
            server: server(tls: tls, idleTimeout: idleTimeout),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: nil),
            services: services + [ReadinessOnShutdown(readiness: readiness)],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? listen.port) },
            logger: logger)
        app.beforeServerStarts {
            try await prepare()
            readiness.set(true)
        }
        return app
    }

    /// HTTP/1.1, over TLS 1.3 when the service has a certificate (`ServerCertificate.tlsConfiguration`). What
    /// `HTTPServerBuilder.tls` builds, made here so a TLS setup error surfaces when the server starts.
    static func server(tls: ServerCertificate?, idleTimeout: Duration = .seconds(75)) -> HTTPServerBuilder {
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [MalformedRequestHandler()], idleTimeout: TimeAmount(idleTimeout))
        guard let tls else { return .http1(configuration: http1) }
        return HTTPServerBuilder { responder in
            try TLSChannel(
                HTTP1Channel(responder: responder, configuration: http1), tlsConfiguration: tls.tlsConfiguration())
        }
    }
}

/// Turns readiness false as soon as graceful shutdown begins.
struct ReadinessOnShutdown: Service {
    let readiness: Readiness
    func run() async throws {
        try? await gracefulShutdown()
        readiness.set(false)
    }
}

/// A host and port to listen on or connect to.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `[v6]:port` or `:port`.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(host: host.isEmpty ? "127.0.0.1" : host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
