import Tracing

/// Continues a trace in work that a durable queue runs later (the notifications service's deliveries): the
/// queuing code stores `currentTraceparent()` with the row, and the worker runs its attempt in `run`, a span
/// whose parent is that stored context, so one trace goes from the request (or event) that queued the work to
/// its effect, however long it waited.
public struct QueuedWorkSpan: Sendable {
    let span: (any Span)?

    /// The span a `DatabaseSpan` was opened in, so work queued inside a transaction names the caller's span.
    @TaskLocal static var enclosingTraceparent: String?

    /// The W3C `traceparent` to store with work queued now: the current span's (outside any `db.*` span), or with
    /// exporting off the request's or event's own `traceparent`, so that the trace still continues when the
    /// process that runs the work exports. Nil outside a trace.
    public static func currentTraceparent() -> String? {
        enclosingTraceparent ?? TracePropagation.headers()["traceparent"] ?? TraceContext.current?.traceparent
    }

    /// Runs `body` in a consumer span named `name`, a child of `traceparent` (a root span when there is none or
    /// it is malformed). `attributes` must hold no personal data. With exporting off `body` runs as it is.
    public static func run<T>(
        _ name: String, continuing traceparent: String?, attributes: [String: String],
        _ body: (QueuedWorkSpan) async -> T
    ) async -> T {
        guard TracingSetup.isExporting else { return await body(QueuedWorkSpan(span: nil)) }
        let parent =
            TraceContext(traceparent: traceparent, tracestate: nil).map(TracePropagation.context(continuing:))
            ?? .topLevel
        return await withSpan(name, context: parent, ofKind: .consumer) { span in
            span.updateAttributes { spanAttributes in
                for (key, value) in attributes { spanAttributes[key] = value }
            }
            return await body(QueuedWorkSpan(span: span))
        }
    }

    /// Adds an attribute; no personal data (ids, counts, outcomes only).
    public func set(_ key: String, _ value: String) {
        span?.attributes[key] = value
    }

    public func set(_ key: String, _ value: Int) {
        span?.attributes[key] = value
    }

    /// Marks the work as failed; `reason` must hold no personal data (an outcome, a status code).
    public func fail(_ reason: String) {
        span?.setStatus(SpanStatus(code: .error, message: reason))
    }
}
