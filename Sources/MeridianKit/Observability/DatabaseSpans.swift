import Tracing

/// The client span of one database transaction or read (`db.transaction`, `db.read`), so a trace shows the time a
/// request spends in SQL. Only inside a trace: the outbox dispatcher and the delivery workers poll their queues
/// several times a second, and a root trace per poll would bury the real ones. With exporting off (or outside a
/// trace) the body runs as it is, after one atomic load (and, exporting, one context lookup).
///
/// Statements are not recorded: a span names the engine and the schema (PostgreSQL) only, never a value.
enum DatabaseSpan {
    static func run<T>(
        _ operation: String, engine: DatabaseEngine, namespace: String?, _ body: () async throws -> T
    ) async throws -> T {
        guard TracingSetup.isExporting, let context = InstrumentationContext.current,
            let enclosing = TracePropagation.headers(of: context)["traceparent"]
        else { return try await body() }
        return try await withSpan("db.\(operation)", context: context, ofKind: .client) { span in
            span.updateAttributes { attributes in
                attributes["db.system"] = engine == .postgres ? "postgresql" : "sqlite"
                attributes["db.operation.name"] = operation
                attributes["db.namespace"] = namespace
            }
            // Work queued in this transaction continues the caller's span, not this short-lived one.
            return try await QueuedWorkSpan.$enclosingTraceparent.withValue(enclosing) { try await body() }
        }
    }
}
