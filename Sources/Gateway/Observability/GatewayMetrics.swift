import MeridianKit

/// The gateway's own instruments on its registry, made once at start: rate-limit decisions, shedding, the
/// circuit breakers, retries, request limits, usage telemetry and the reports of refused requests. `/metrics` shows them next to the HTTP ones.
final class GatewayMetrics: Sendable {
    let service: ServiceMetrics
    private let admitted: [RouteClass: MetricCounter]
    private let limited: [RouteClass: MetricCounter]
    private let shed: [String: [RouteClass: MetricCounter]]
    private let breakerRejected: [String: MetricCounter]
    private let breakerOpened: [String: MetricCounter]
    private let breakerState: [String: MetricGauge]
    private let inFlight: [String: MetricGauge]
    private let retried: [String: MetricCounter]
    private let retryBudgetExhausted: [String: MetricCounter]
    private let upstreamFailures: [String: MetricCounter]
    let headersTooLarge: MetricCounter
    let tooManyHeaders: MetricCounter
    let usage: ReportCounters
    /// The refused requests reported to analytics' audit log.
    let denials: ReportCounters

    init(service: ServiceMetrics, upstreams: [String]) {
        self.service = service
        func perClass(_ name: String, _ help: String, outcome: String) -> [RouteClass: MetricCounter] {
            Dictionary(
                uniqueKeysWithValues: RouteClass.allCases.map {
                    ($0, service.makeCounter(name, help: help, labels: [("class", $0.rawValue), ("outcome", outcome)]))
                })
        }
        func perUpstream<T>(_ make: (String) -> T) -> [String: T] {
            Dictionary(uniqueKeysWithValues: upstreams.map { ($0, make($0)) })
        }
        let decisions = "Rate-limit decisions by route class and outcome"
        admitted = perClass("gateway_ratelimit_decisions", decisions, outcome: "admitted")
        limited = perClass("gateway_ratelimit_decisions", decisions, outcome: "limited")
        shed = perUpstream { upstream in
            Dictionary(
                uniqueKeysWithValues: RouteClass.allCases.map {
                    (
                        $0,
                        service.makeCounter(
                            "gateway_shed_requests", help: "Requests refused with 503 because the upstream was busy",
                            labels: [("upstream", upstream), ("class", $0.rawValue)])
                    )
                })
        }
        breakerRejected = perUpstream {
            service.makeCounter(
                "gateway_breaker_rejected_requests", help: "Requests refused because the upstream's breaker was open",
                labels: [("upstream", $0)])
        }
        breakerOpened = perUpstream {
            service.makeCounter(
                "gateway_breaker_opened", help: "Times the upstream's circuit breaker opened", labels: [("upstream", $0)])
        }
        breakerState = perUpstream {
            service.makeGauge(
                "gateway_breaker_state", help: "Circuit breaker state: 0 closed, 1 half-open, 2 open",
                labels: [("upstream", $0)])
        }
        inFlight = perUpstream {
            service.makeGauge("gateway_upstream_in_flight", help: "Requests in flight to the upstream", labels: [("upstream", $0)])
        }
        retried = perUpstream {
            service.makeCounter("gateway_upstream_retries", help: "Retried upstream requests", labels: [("upstream", $0)])
        }
        retryBudgetExhausted = perUpstream {
            service.makeCounter(
                "gateway_retry_budget_exhausted", help: "Retries not made because the retry budget was spent",
                labels: [("upstream", $0)])
        }
        upstreamFailures = perUpstream {
            service.makeCounter(
                "gateway_upstream_failures",
                help: "Upstream exchanges that failed (unreachable, timed out, broken, or a 502/503/504)",
                labels: [("upstream", $0)])
        }
        headersTooLarge = service.makeCounter(
            "gateway_rejected_requests", help: "Requests refused for their size", labels: [("reason", "header_bytes")])
        tooManyHeaders = service.makeCounter(
            "gateway_rejected_requests", help: "Requests refused for their size", labels: [("reason", "header_count")])
        usage = ReportCounters(service, kind: "usage", noun: "Usage records")
        denials = ReportCounters(service, kind: "denial", noun: "Refused requests reported for the audit log")
        // Exported at 0 from start-up, so the store-failure alert has a series before the first failure.
        for kind in RateLimiter.storeErrorKinds {
            _ = service.makeCounter(RateLimiter.storeErrors, help: RateLimiter.storeErrorsHelp, labels: [("error", kind)])
        }
    }

    func rateLimit(_ routeClass: RouteClass, admitted: Bool) {
        (admitted ? self.admitted : limited)[routeClass]?.increment()
    }
    func shed(_ upstream: String, _ routeClass: RouteClass) { shed[upstream]?[routeClass]?.increment() }
    func breakerRejected(_ upstream: String) { breakerRejected[upstream]?.increment() }
    func breakerTransition(_ upstream: String, to state: CircuitBreaker.State) {
        if state == .open { breakerOpened[upstream]?.increment() }
        breakerState[upstream]?.set(state == .closed ? 0 : state == .halfOpen ? 1 : 2)
    }
    func inFlight(_ upstream: String, _ delta: Double) { inFlight[upstream]?.increment(by: delta) }
    func retried(_ upstream: String) { retried[upstream]?.increment() }
    func retryBudgetExhausted(_ upstream: String) { retryBudgetExhausted[upstream]?.increment() }
    func upstreamFailure(_ upstream: String) { upstreamFailures[upstream]?.increment() }
}
