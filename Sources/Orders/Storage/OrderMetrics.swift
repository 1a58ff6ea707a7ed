import MeridianKit

/// The orders service's domain series: committed status changes by the status entered (orders by status, as a
/// rate; a counter of transitions costs nothing per scrape, unlike a gauge that would count rows), and payment
/// attempts by kind and outcome. Every series is made at start-up at 0, so the dashboard has a series (and the
/// metric is on `/metrics`) before the first order. Statuses and kinds are closed sets: the labels stay bounded.
struct OrderMetrics: Sendable {
    private let statusChanges: [OrderStatus: MetricCounter]

    static let paymentAttemptsHelp = "Finished payment attempts by kind and status"

    init(metrics: ServiceMetrics) {
        statusChanges = Dictionary(
            uniqueKeysWithValues: OrderStatus.allCases.map {
                (
                    $0,
                    metrics.makeCounter(
                        "orders_status_changes", help: "Committed order status changes by the status entered",
                        labels: [("status", $0.rawValue)])
                )
            })
        for kind in PaymentAttempt.Kind.allCases {
            for status in PaymentAttempt.Status.allCases where status != .processing {
                _ = metrics.counter(
                    "orders_payment_attempts", help: OrderMetrics.paymentAttemptsHelp,
                    labels: [("kind", kind.rawValue), ("status", status.rawValue)])
            }
        }
    }

    /// Call after the change's transaction committed, so a rolled-back change is not counted.
    func entered(_ status: OrderStatus) {
        statusChanges[status]?.increment()
    }
}
