import Foundation
import HTTPTypes
import Hummingbird

/// The W3C trace context (`traceparent`, `tracestate`) of the work in progress, carried from a request into the
/// events it causes and from an event into its consumer's effects. Held in a task local, so code deep in a
/// handler (the outbox) sees the request's context without threading it through every call.
public struct TraceContext: Sendable, Equatable {
    public let traceparent: String
    public let tracestate: String?

    /// The context of the current task, if the request or event being handled carried a valid one.
    @TaskLocal public static var current: TraceContext?

    /// Nil unless `traceparent` is well formed per W3C Trace Context level 1 (`00-<32 hex>-<16 hex>-<2 hex>`,
    /// lower case, ids not all zero, version not `ff`); a malformed `tracestate` is dropped, as the
    /// specification asks.
    public init?(traceparent: String?, tracestate: String?) {
        guard let traceparent, TraceContext.isValidTraceparent(traceparent) else { return nil }
        self.traceparent = traceparent
        if let tracestate, TraceContext.isValidTracestate(tracestate) {
            self.tracestate = tracestate
        } else {
            self.tracestate = nil
        }
    }

    static func isValidTraceparent(_ value: String) -> Bool {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4 else { return false }
        let version = parts[0]
        guard version.count == 2, isLowerHex(version), version != "ff" else { return false }
        // Version 00 has exactly four fields; later versions may append more (forward compatibility).
        if version == "00", parts.count != 4 { return false }
        let traceID = parts[1]
        let parentID = parts[2]
        let flags = parts[3]
        guard traceID.count == 32, isLowerHex(traceID), traceID.contains(where: { $0 != "0" }) else { return false }
        guard parentID.count == 16, isLowerHex(parentID), parentID.contains(where: { $0 != "0" }) else {
            return false
        }
        return flags.count == 2 && isLowerHex(flags)
    }

    /// At most 32 list members of printable ASCII, 512 characters in all (the limit vendors propagate).
    static func isValidTracestate(_ value: String) -> Bool {
        guard !value.isEmpty, value.utf8.count <= 512 else { return false }
        guard value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value <= 0x7E }) else { return false }
        let members = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return members.count <= 32 && members.allSatisfy { $0.isEmpty || $0.contains("=") }
    }

    private static func isLowerHex(_ text: Substring) -> Bool {
        text.unicodeScalars.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
    }
}

/// Binds the request's `traceparent`/`tracestate` headers to `TraceContext.current` for the rest of the
/// request, so events written while handling it carry them. Invalid headers are ignored, never an error.
public struct TraceContextMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let trace = TraceContext(
            traceparent: request.headers[TraceContext.traceparentHeader],
            tracestate: request.headers[TraceContext.tracestateHeader])
        guard let trace else { return try await next(request, context) }
        return try await TraceContext.$current.withValue(trace) { try await next(request, context) }
    }
}

extension TraceContext {
    /// The W3C header names (lower case, as HTTP/2 and the specification write them).
    public static let traceparentHeader = HTTPField.Name("traceparent")!
    public static let tracestateHeader = HTTPField.Name("tracestate")!
}
