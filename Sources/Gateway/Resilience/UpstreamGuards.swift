import Hummingbird
import MeridianKit

/// What stands between a request and one upstream: the concurrency limit that sheds by priority, the circuit
/// breaker and the retry budget.
final class UpstreamGuards: Sendable {
    let service: String
    let shedder: LoadShedder
    let breaker: CircuitBreaker
    let retryBudget: RetryBudget
    let metrics: GatewayMetrics

    init(service: String, options: GatewayOptions, metrics: GatewayMetrics) {
        self.service = service
        self.shedder = LoadShedder(capacity: options.concurrencyPerUpstream)
        self.breaker = CircuitBreaker(settings: options.breaker, clock: options.clock) { state in
            metrics.breakerTransition(service, to: state)
        }
        self.retryBudget = RetryBudget(settings: options.retryBudget)
        self.metrics = metrics
    }

    /// Runs `forward` if the upstream has room for this priority and its breaker lets the request through,
    /// and reports the outcome to the breaker.
    func guarded(
        _ routeClass: RouteClass, _ forward: () async throws -> Response
    ) async throws -> Response {
        guard shedder.acquire(routeClass.priority) else {
            metrics.shed(service, routeClass)
            throw Problem(
                .serviceUnavailable, type: Problem.typeBase + "overloaded", title: "Service Unavailable",
                detail: "The \(service) service is at capacity; retry shortly.", headers: [.retryAfter: "1"])
        }
        metrics.inFlight(service, 1)
        defer {
            shedder.release()
            metrics.inFlight(service, -1)
        }
        let permit = breaker.permit()
        if permit == .rejected {
            metrics.breakerRejected(service)
            let (seconds, fraction) = breaker.settings.openDuration.components
            throw Problem(
                .serviceUnavailable, type: Problem.typeBase + "circuit-open", title: "Service Unavailable",
                detail: "The \(service) service is failing; the gateway is not sending it requests for now.",
                headers: [.retryAfter: String(seconds + (fraction > 0 ? 1 : 0))])
        }
        do {
            retryBudget.deposit()
            let response = try await forward()
            let failed = [502, 503, 504].contains(response.status.code)
            if failed { metrics.upstreamFailure(service) }
            breaker.record(success: !failed, probe: permit == .probe)
            return response
        } catch let problem as Problem {
            // The gateway's own problems about the upstream count against it; the client's (413, 400) do not.
            let failed = [502, 503, 504].contains(problem.status.code)
            if failed { metrics.upstreamFailure(service) }
            breaker.record(success: !failed, probe: permit == .probe)
            throw problem
        } catch {
            breaker.record(success: true, probe: permit == .probe)
            throw error
        }
    }
}
