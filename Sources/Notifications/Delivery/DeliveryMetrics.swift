import MeridianKit

/// `notification_delivery_attempts_total{channel,status}`: the one definition of the metric. Every series is made
/// at 0 when the service is built, so the dashboard's rates have a series (and the metric is on `/metrics`) before
/// the first attempt, and an attempt only increments a counter made here (no registry lookup, which takes a lock
/// and joins the labels, per attempt). Channels and results are closed sets, so the labels stay bounded.
struct DeliveryMetrics: Sendable {
    /// The results an attempt can leave a delivery in: sent, failed (a retry is scheduled) or dead.
    static let attemptResults: [DeliveryStatus] = [.sent, .failed, .dead]

    private struct SeriesKey: Hashable {
        let channel: Channel
        let result: DeliveryStatus
    }

    private let attempts: [SeriesKey: MetricCounter]

    init(metrics: ServiceMetrics) {
        var attempts: [SeriesKey: MetricCounter] = [:]
        for channel in Channel.allCases {
            for result in DeliveryMetrics.attemptResults {
                attempts[SeriesKey(channel: channel, result: result)] = metrics.makeCounter(
                    "notification_delivery_attempts", help: "Delivery attempts by channel and resulting status.",
                    labels: [("channel", channel.rawValue), ("status", result.rawValue)])
            }
        }
        self.attempts = attempts
    }

    /// Counts one attempt that left its delivery `result` (`DeliveryQueue.complete` returns only the attempt
    /// results, so every result has its counter).
    func recordAttempt(channel: Channel, result: DeliveryStatus) {
        guard let counter = attempts[SeriesKey(channel: channel, result: result)] else {
            assertionFailure("an attempt cannot leave a delivery \(result.rawValue)")
            return
        }
        counter.increment()
    }
}
