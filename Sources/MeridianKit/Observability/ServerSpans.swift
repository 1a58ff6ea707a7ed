import HTTPTypes
import Hummingbird
import Tracing

/// A router whose every request runs in a server span (Hummingbird's `TracingMiddleware`: named by the route
/// template once the router has matched, a child of the caller's `traceparent`). It wraps the whole router
/// rather than being one of its middleware, so the operational routes and the 404s of every service are traced
/// without each router having to add it first.
public struct TracedRouter<Builder: HTTPResponderBuilder>: HTTPResponderBuilder
where Builder.Responder.Context: RequestContext {
    let router: Builder
    let service: String

    /// `service` goes on every span as `meridian.service`: in `meridian serve` five services share one process,
    /// and so one OpenTelemetry `service.name`.
    public init(_ router: Builder, service: String) {
        self.router = router
        self.service = service
    }

    public func buildResponder() -> TracingResponder<Builder.Responder> {
        TracingResponder(inner: router.buildResponder(), service: service)
    }
}

/// See `TracedRouter`.
public struct TracingResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context: RequestContext {
    public typealias Context = Inner.Context
    let inner: Inner
    let tracing: TracingMiddleware<Context>

    init(inner: Inner, service: String) {
        self.inner = inner
        var attributes = SpanAttributes()
        attributes["meridian.service"] = service
        self.tracing = TracingMiddleware(
            redactingQueryParameters: ServerSpanPolicy.redactedQueryParameters, attributes: attributes)
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        // Without an exporter a span would be a no-op anyway: spare every request the middleware.
        guard TracingSetup.isExporting else { return try await inner.respond(to: request, context: context) }
        return try await tracing.handle(request, context: context) { request, context in
            try await inner.respond(to: Self.naming(currentSpanIn: request), context: context)
        }
    }

    /// The request with its `traceparent`/`tracestate` naming the server span, so that what the handlers pass on
    /// (`TraceContextMiddleware` binds these headers for the outbox and the audit log; the gateway forwards them)
    /// continues from this service's span rather than skipping it. Unchanged when tracing is off.
    static func naming(currentSpanIn request: Request) -> Request {
        let headers = TracePropagation.headers()
        guard let traceparent = headers["traceparent"] else { return request }
        var head = request.head
        head.headerFields[TraceContext.traceparentHeader] = traceparent
        head.headerFields[TraceContext.tracestateHeader] = headers["tracestate"]
        return Request(head: head, body: request.body)
    }
}

enum ServerSpanPolicy {
    /// Query parameters whose values never reach a span: credentials, one-time codes and personal data.
    static let redactedQueryParameters: Set<String> = [
        "access_token", "refresh_token", "id_token_hint", "token", "code", "code_verifier", "code_challenge", "state",
        "nonce", "login_hint", "client_secret", "password", "email", "name", "phone", "address",
    ]
}
