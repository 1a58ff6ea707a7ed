import MeridianKit

extension DeliveryWorker {
    /// The results an attempt can leave a delivery in: sent, failed (a retry is scheduled) or dead.
    static let attemptResults: [DeliveryStatus] = [.sent, .failed, .dead]

    /// Makes every `notification_delivery_attempts_total` series at 0, so the dashboard's rates have a series
    /// (and the metric is on `/metrics`) before the first attempt. Channels and results are closed sets, so the
    /// labels stay bounded.
    static func registerMetrics(_ metrics: ServiceMetrics) {
        for channel in Channel.allCases {
            for status in attemptResults {
                _ = metrics.counter(
                    "notification_delivery_attempts", help: "Delivery attempts by channel and resulting status.",
                    labels: [("channel", channel.rawValue), ("status", status.rawValue)])
            }
        }
    }
}
