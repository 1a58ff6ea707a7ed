import Foundation
import HTTPTypes
import Hummingbird
import MeridianKit
import Synchronization

/// Who made a request, as the route handler learns it after the token check, for the usage record the outer
/// middleware writes. A task-local carries it down: the context a middleware passes on is a copy, so a
/// principal attached further in is not visible to it otherwise.
final class UsageCaller: Sendable {
    private let value = Mutex<(subject: String?, clientID: String?)>((nil, nil))
    func set(subject: String, clientID: String) { value.withLock { $0 = (subject, clientID) } }
    var current: (subject: String?, clientID: String?) { value.withLock { $0 } }

    @TaskLocal static var scope: UsageCaller?
}

/// Records every request (time, route template, method, status, latency to the response head, bytes, caller)
/// into the bounded usage buffer. It sits outside the token check, so refusals are recorded too.
struct UsageMiddleware: RouterMiddleware {
    typealias Context = MeridianRequestContext

    let buffer: UsageBuffer
    let metrics: GatewayMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let time = Date()
        let caller = UsageCaller()
        do {
            let response = try await UsageCaller.$scope.withValue(caller) { try await next(request, context) }
            let bytesOut = response.body.contentLength ?? response.headers[.contentLength].flatMap { Int($0) } ?? 0
            record(request, context, caller, time: time, start: start, status: response.status.code, bytesOut: bytesOut)
            return response
        } catch {
            // The problem middleware outside turns the error into the response; its status is known here.
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(request, context, caller, time: time, start: start, status: status, bytesOut: 0)
            throw error
        }
    }

    private func record(
        _ request: Request, _ context: Context, _ caller: UsageCaller, time: Date, start: ContinuousClock.Instant,
        status: Int, bytesOut: Int
    ) {
        let route = context.endpointPath ?? "NotFound"
        // The operational routes are the platform's own traffic (probes, scrapes), not usage.
        if route == "/healthz" || route == "/readyz" || route == "/metrics" { return }
        let who = caller.current
        let record = UsageRecord(
            time: time, route: route, method: request.method.rawValue, status: status,
            latencyMicros: (ContinuousClock.now - start).microseconds,
            bytesIn: request.headers[.contentLength].flatMap { Int64($0) } ?? 0, bytesOut: Int64(bytesOut),
            subject: who.subject, clientID: who.clientID)
        if buffer.append(record) {
            metrics.usage.recorded.increment()
        } else {
            metrics.usage.dropped.increment()
        }
    }
}
