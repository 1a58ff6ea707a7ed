import Foundation
import HTTPTypes
import Hummingbird
import Prometheus
import Synchronization

/// A service's own Prometheus registry. Each service keeps its own (rather than the process-wide
/// `MetricsSystem`) so that, when `meridian serve` runs all five in one process, each `/metrics` shows only
/// its service.
public final class ServiceMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    public let service: String

    public init(service: String) {
        self.service = service
    }

    /// Values read at scrape time (a certificate's expiry), set just before each exposition.
    private let beforeExposition = Mutex<[@Sendable () -> Void]>([])

    public func refreshBeforeEachScrape(_ refresh: @escaping @Sendable () -> Void) {
        beforeExposition.withLock { $0.append(refresh) }
    }

    static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    /// The instruments of one route, method and status. The registry's `make…` calls validate and join the
    /// names and labels each time (about 1.5% of the gateway's CPU per request, perf), so each series is looked
    /// up in the registry once and kept here. As bounded as the registry's series: route templates, not paths.
    private struct RequestSeriesKey: Hashable {
        let method: HTTPRequest.Method
        let route: String
        let status: Int
    }

    private let requestSeries = Mutex<[RequestSeriesKey: (requests: Counter, duration: DurationHistogram)]>([:])

    /// Records one finished request under its route template (never the raw path, which would make labels
    /// unbounded).
    public func recordRequest(method: HTTPRequest.Method, route: String, status: Int, duration: Duration) {
        let key = RequestSeriesKey(method: method, route: route, status: status)
        let series =
            requestSeries.withLock { $0[key] }
            ?? {
                let made = (
                    requests: registry.makeCounter(
                        descriptor: .init(
                            metricName: "http_requests", unitName: "total",
                            helpText: "HTTP requests by route template and status"),
                        labels: [("method", method.rawValue), ("route", route), ("status", String(status))]),
                    duration: registry.makeDurationHistogram(
                        descriptor: .init(
                            metricName: "http_request_duration", unitName: "seconds",
                            helpText: "HTTP request duration by route template"),
                        labels: [("method", method.rawValue), ("route", route)],
                        buckets: ServiceMetrics.latencyBuckets))
                // The registry returns the same instruments to every caller, so a race here stores equal values.
                requestSeries.withLock { $0[key] = made }
                return made
            }()
        series.requests.increment()
        series.duration.record(duration)
    }

    public func counter(_ name: String, help: String, labels: [(String, String)] = []) -> Counter {
        registry.makeCounter(descriptor: .init(metricName: name, unitName: "total", helpText: help), labels: labels)
    }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] {
        for refresh in beforeExposition.withLock({ $0 }) { refresh() }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}

/// Measures every request for `ServiceMetrics`, including errors, which it sees as the problem responses the
/// `ProblemMiddleware` inside it produced.
public struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServiceMetrics

    public init(metrics: ServiceMetrics) {
        self.metrics = metrics
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        // Unmatched paths share one label value (the router names it), so scanners cannot create series.
        let route = context.endpointPath ?? "NotFound"
        metrics.recordRequest(
            method: request.method, route: route, status: response.status.code, duration: .now - start)
        return response
    }
}
