import Foundation
import MeridianKit

/// Validates each element of a batch on its own and stores the valid ones in one transaction: one bad event
/// is reported by its index and does not hold back the others.
struct BatchIngestion: Sendable {
    let ingestor: EventIngestor
    /// Counts what became of each element; the service always sets it.
    var metrics: IngestionMetrics? = nil

    func ingest(
        _ elements: [JSONValue], receivedAt: Date, source: IngestionMetrics.Source = .api,
        read: (JSONValue) -> EventReading
    ) async throws -> BatchReport {
        var events: [AnalyticsEvent] = []
        events.reserveCapacity(elements.count)
        var rejected: [BatchReport.Rejection] = []
        for (index, element) in elements.enumerated() {
            switch read(element) {
            case .event(let event): events.append(event)
            case .rejected(let errors): rejected.append(BatchReport.Rejection(index: index, errors: errors))
            }
        }
        let outcome = try await ingestor.ingest(events, receivedAt: receivedAt)
        metrics?.record(source, accepted: outcome.accepted, duplicates: outcome.duplicates, rejected: rejected.count)
        return BatchReport(accepted: outcome.accepted, duplicates: outcome.duplicates, rejected: rejected)
    }
}
