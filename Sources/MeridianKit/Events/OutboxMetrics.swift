import Foundation
import Prometheus

/// The outbox's Prometheus series in its service's registry: backlog gauges, and per-subscriber counters of
/// delivered, retried and dead deliveries.
public struct OutboxMetrics: Sendable {
    let lag: Gauge
    let pending: Gauge
    private let metrics: ServiceMetrics

    public init(metrics: ServiceMetrics) {
        self.metrics = metrics
        lag = metrics.registry.makeGauge(
            descriptor: .init(
                metricName: "outbox_lag", unitName: "seconds",
                helpText: "Age of the oldest undelivered outbox delivery (0 when none is pending)"))
        pending = metrics.registry.makeGauge(
            descriptor: .init(metricName: "outbox_pending", unitName: "", helpText: "Outbox deliveries not yet acknowledged"))
    }

    func delivered(_ subscriber: String) {
        metrics.counter(
            "outbox_delivered", help: "Events acknowledged by a subscriber", labels: [("subscriber", subscriber)]
        ).increment()
    }

    func retried(_ subscriber: String) {
        metrics.counter(
            "outbox_retried", help: "Failed delivery attempts scheduled for a retry", labels: [("subscriber", subscriber)]
        ).increment()
    }

    func dead(_ subscriber: String) {
        metrics.counter(
            "outbox_dead", help: "Deliveries given up after the attempt or age bound", labels: [("subscriber", subscriber)]
        ).increment()
    }

    func record(_ backlog: OutboxStore.Backlog, now: Date) {
        pending.set(Double(backlog.pending))
        lag.set(backlog.oldestPending.map { max(0, now.timeIntervalSince($0)) } ?? 0)
    }
}
