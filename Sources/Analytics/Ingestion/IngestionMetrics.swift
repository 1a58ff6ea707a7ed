import MeridianKit

/// The ingestion rate for the service's dashboard: `analytics_events_received_total{source,result}`, the events
/// each ingestion route received, by what became of them (stored, dropped as a duplicate, rejected by
/// validation). Counted after the batch's transaction committed. Every series is made at start-up at 0, so the
/// metric is on `/metrics` before the first batch; sources and results are closed sets.
struct IngestionMetrics: Sendable {
    enum Source: String, CaseIterable, Sendable {
        /// `POST /api/analytics/events`.
        case api
        /// The Segment-compatible routes.
        case segment
        /// The gateway's usage records.
        case usage
    }

    private let accepted: [Source: MetricCounter]
    private let duplicates: [Source: MetricCounter]
    private let rejected: [Source: MetricCounter]

    init(metrics: ServiceMetrics) {
        func series(_ result: String) -> [Source: MetricCounter] {
            Dictionary(
                uniqueKeysWithValues: Source.allCases.map {
                    (
                        $0,
                        metrics.makeCounter(
                            "analytics_events_received", help: "Events received by ingestion source and result",
                            labels: [("source", $0.rawValue), ("result", result)])
                    )
                })
        }
        accepted = series("accepted")
        duplicates = series("duplicate")
        rejected = series("rejected")
    }

    func record(_ source: Source, accepted: Int, duplicates: Int, rejected: Int) {
        if accepted > 0 { self.accepted[source]?.increment(by: accepted) }
        if duplicates > 0 { self.duplicates[source]?.increment(by: duplicates) }
        if rejected > 0 { self.rejected[source]?.increment(by: rejected) }
    }
}
