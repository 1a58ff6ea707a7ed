import AsyncHTTPClient
import NIOHTTP1
import Tracing

/// Moves the current span's W3C trace context (`traceparent`, `tracestate`) in and out of plain header lists, so
/// that code which does not import Tracing (the gateway's proxy, the outbox) can propagate a trace. With no tracer
/// bootstrapped (exporting off), injecting yields nothing and extracting keeps the context empty.
public enum TracePropagation {
    /// The headers that carry `context` (default: the current one) to the next hop, lower-case names.
    public static func headers(of context: InstrumentationContext? = .current) -> [String: String] {
        guard let context else { return [:] }
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: DictionaryPropagation())
        return headers
    }

    /// A context whose parent is `trace` (an event's stored `traceparent`), for a span that continues that trace
    /// in another process or at another time.
    public static func context(continuing trace: TraceContext) -> InstrumentationContext {
        var context = InstrumentationContext.topLevel
        var headers = ["traceparent": trace.traceparent]
        if let tracestate = trace.tracestate { headers["tracestate"] = tracestate }
        InstrumentationSystem.instrument.extract(headers, into: &context, using: DictionaryPropagation())
        return context
    }

    /// The trace id (32 hex digits) of a `traceparent` header value.
    static func traceID(ofTraceparent value: String?) -> Substring? {
        guard let value else { return nil }
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count >= 4 ? parts[1] : nil
    }
}

/// A lower-case header dictionary as a propagation carrier.
struct DictionaryPropagation: Injector, Extractor {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key.lowercased()] = value
    }

    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key.lowercased()]
    }
}

/// A client span around one outbound HTTP call (the gateway's proxying): its `traceHeaders` go on the request,
/// and the answer's status is recorded on it.
public struct OutboundHTTPSpan: Sendable {
    let span: any Span

    /// `traceparent` (and `tracestate`) naming this span as the parent of the callee's server span; empty when
    /// tracing is off.
    public var traceHeaders: [String: String] { TracePropagation.headers(of: span.context) }

    /// Records the status the callee answered; a 5xx marks the span as failed.
    public func record(status: Int) {
        span.attributes["http.response.status_code"] = status
        if status >= 500 { span.setStatus(SpanStatus(code: .error)) }
    }

    /// Whether `client` puts the current span's `traceparent` on every request itself. AsyncHTTPClient does (with
    /// a client span of its own, and by adding the header, not replacing it) when it was made after the tracer was
    /// installed; one made before keeps the no-op tracer. A second `traceparent` would make both unreadable.
    public static func injectsTraceHeaders(_ client: HTTPClient) -> Bool {
        guard let tracer = client.tracer else { return false }
        return !(tracer is NoOpTracer)
    }

    /// Points the trace headers of a proxied request at this span: removes the caller's when `client` adds its
    /// own, else replaces them with this span's. With tracing off the caller's headers pass through unchanged.
    public func propagate(into headers: inout HTTPHeaders, sentBy client: HTTPClient) {
        if OutboundHTTPSpan.injectsTraceHeaders(client) {
            headers.remove(name: "traceparent")
            headers.remove(name: "tracestate")
            return
        }
        let own = traceHeaders
        guard let traceparent = own["traceparent"] else { return }
        headers.replaceOrAdd(name: "traceparent", value: traceparent)
        headers.remove(name: "tracestate")
        if let tracestate = own["tracestate"] { headers.add(name: "tracestate", value: tracestate) }
    }

    /// Runs `body` inside a client span named `<method> <service>`, a child of the current span.
    public static func run<T>(
        method: String, service: String, serverAddress: String?,
        _ body: (OutboundHTTPSpan) async throws -> T
    ) async throws -> T {
        try await withSpan("\(method) \(service)", ofKind: .client) { span in
            span.updateAttributes { attributes in
                attributes["http.request.method"] = method
                attributes["peer.service"] = service
                attributes["server.address"] = serverAddress
            }
            return try await body(OutboundHTTPSpan(span: span))
        }
    }
}

extension OutboundHTTPSpan {
    /// Runs `body` inside the client span of one outbox delivery: a child of the event's stored trace (the
    /// request that caused it), so the subscriber's handling joins that trace even though it happens later and
    /// in another task. Without a stored trace the delivery starts a trace of its own.
    public static func delivering<T>(
        eventID: String, type: String, producer: String, subscriber: String, continuing trace: TraceContext?,
        _ body: (OutboundHTTPSpan) async throws -> T
    ) async throws -> T {
        let parent = trace.map(TracePropagation.context(continuing:)) ?? .topLevel
        return try await withSpan("deliver \(type)", context: parent, ofKind: .client) { span in
            span.updateAttributes { attributes in
                attributes["http.request.method"] = "POST"
                attributes["peer.service"] = subscriber
                attributes["messaging.system"] = "meridian-outbox"
                attributes["messaging.operation.type"] = "send"
                attributes["messaging.destination.name"] = subscriber
                attributes["messaging.message.id"] = eventID
                attributes["meridian.event.type"] = type
                attributes["meridian.service"] = producer
            }
            return try await body(OutboundHTTPSpan(span: span))
        }
    }

    /// The trace headers to put on a request `client` sends: none when the client adds them itself (see
    /// `injectsTraceHeaders`), else this span's, or `stored` as it is when tracing is off, so the subscriber still
    /// learns the event's trace.
    public func traceHeaders(for client: HTTPClient, orStored stored: TraceContext?) -> [(String, String)] {
        if OutboundHTTPSpan.injectsTraceHeaders(client) { return [] }
        let own = traceHeaders
        if let traceparent = own["traceparent"] {
            return [("traceparent", traceparent)] + (own["tracestate"].map { [("tracestate", $0)] } ?? [])
        }
        guard let stored else { return [] }
        return [("traceparent", stored.traceparent)] + (stored.tracestate.map { [("tracestate", $0)] } ?? [])
    }
}

/// The consumer span of one received event (`EventReceiver`).
public enum EventConsumptionSpan {
    /// Runs `body` inside a `process <type>` consumer span. Its parent is the current server span when that
    /// belongs to the event's trace (the dispatcher sent its own span along); otherwise the event's stored
    /// trace, so the consumer continues the producer's trace even when the delivery carried no trace headers.
    public static func run<T>(
        _ envelope: EventEnvelope, consumer: String, _ body: () async throws -> T
    ) async throws -> T {
        let current = InstrumentationContext.current
        let stored = TraceContext(traceparent: envelope.traceparent, tracestate: envelope.tracestate)
        let parent: InstrumentationContext
        if let current, let stored,
            let currentTrace = TracePropagation.traceID(ofTraceparent: TracePropagation.headers(of: current)["traceparent"]),
            currentTrace == TracePropagation.traceID(ofTraceparent: stored.traceparent)
        {
            parent = current
        } else if let stored {
            parent = TracePropagation.context(continuing: stored)
        } else {
            parent = current ?? .topLevel
        }
        return try await withSpan("process \(envelope.type)", context: parent, ofKind: .consumer) { span in
            span.updateAttributes { attributes in
                attributes["messaging.system"] = "meridian-outbox"
                attributes["messaging.operation.type"] = "process"
                attributes["messaging.message.id"] = envelope.id
                attributes["meridian.event.type"] = envelope.type
                attributes["meridian.event.producer"] = envelope.producer
                attributes["meridian.service"] = consumer
            }
            return try await body()
        }
    }
}
