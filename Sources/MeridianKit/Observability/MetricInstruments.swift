import Prometheus

/// A counter of a service's registry, for modules that do not import Prometheus themselves. Made once and kept:
/// looking an instrument up in the registry takes a lock, which a hot path should not pay per request.
public struct MetricCounter: Sendable {
    private let counter: Counter
    init(_ counter: Counter) { self.counter = counter }
    public func increment(by amount: Int = 1) { counter.increment(by: Int64(amount)) }
}

/// A gauge of a service's registry (a value that goes up and down, such as requests in flight).
public struct MetricGauge: Sendable {
    private let gauge: Gauge
    init(_ gauge: Gauge) { self.gauge = gauge }
    public func set(_ value: Double) { gauge.set(value) }
    public func increment(by amount: Double = 1) { gauge.increment(by: amount) }
    public func decrement(by amount: Double = 1) { gauge.decrement(by: amount) }
}

extension ServiceMetrics {
    /// A counter named `<name>_total`.
    public func makeCounter(_ name: String, help: String, labels: [(String, String)] = []) -> MetricCounter {
        MetricCounter(counter(name, help: help, labels: labels))
    }

    public func makeGauge(_ name: String, help: String, labels: [(String, String)] = []) -> MetricGauge {
        MetricGauge(registry.makeGauge(descriptor: .init(metricName: name, unitName: "", helpText: help), labels: labels))
    }
}
