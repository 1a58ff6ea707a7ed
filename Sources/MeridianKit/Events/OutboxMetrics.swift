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

    /// Makes the per-subscriber counters at 0, so dead letters and retries are on `/metrics` (and the
    /// dashboards' rates have a series) before the first one happens.
    func register(subscribers: [String]) {
        for subscriber in subscribers {
            delivered(subscriber, 0)
            retried(subscriber, 0)
            dead(subscriber, 0)
        }
    }

    func delivered(_ subscriber: String) { delivered(subscriber, 1) }
    func retried(_ subscriber: String) { retried(subscriber, 1) }
    func dead(_ subscriber: String) { dead(subscriber, 1) }

    private func delivered(_ subscriber: String, _ amount: Int64) {
        metrics.counter(
            "outbox_delivered", help: "Events acknowledged by a subscriber", labels: [("subscriber", subscriber)]
        ).increment(by: amount)
    }

    private func retried(_ subscriber: String, _ amount: Int64) {
        metrics.counter(
            "outbox_retried", help: "Failed delivery attempts scheduled for a retry", labels: [("subscriber", subscriber)]
        ).increment(by: amount)
    }

    private func dead(_ subscriber: String, _ amount: Int64) {
        metrics.counter(
            "outbox_dead", help: "Deliveries given up after the attempt or age bound", labels: [("subscriber", subscriber)]
        ).increment(by: amount)
    }

    func record(_ backlog: OutboxStore.Backlog, now: Date) {
        pending.set(Double(backlog.pending))
        lag.set(backlog.oldestPending.map { max(0, now.timeIntervalSince($0)) } ?? 0)
    }
}
