import Hummingbird
import MeridianKit
import NIOCore

/// The gateway's router: what `ServiceHost.makeRouter` gives every service (request id, metrics, problems, the
/// operational routes), with the gateway's own outermost layers in front of the operational routes too: the
/// HSTS header on every response and the header limits on every request.
enum GatewayRouter {
    static func make(
        metrics: ServiceMetrics, gatewayMetrics: GatewayMetrics, readiness: Readiness, options: GatewayOptions
    ) -> Router<MeridianRequestContext> {
        let router = Router(context: MeridianRequestContext.self)
        router.add(middleware: StrictTransportSecurityMiddleware())
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.add(middleware: ProblemMiddleware())
        router.add(
            middleware: HeaderLimitsMiddleware(
                maxBytes: options.maxHeaderBytes, maxCount: options.maxHeaderCount, metrics: gatewayMetrics))
        router.get("/healthz") { _, _ in try Response.json(["status": "ok"]) }
        router.get("/readyz") { _, _ -> Response in
            guard readiness.isReady else {
                throw Problem(
                    .serviceUnavailable, detail: "The service is starting or shutting down.", headers: [.retryAfter: "1"])
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
}
