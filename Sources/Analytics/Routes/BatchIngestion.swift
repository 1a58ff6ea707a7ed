import Foundation
import MeridianKit

/// Validates each element of a batch on its own and stores the valid ones in one transaction: one bad event
/// is reported by its index and does not hold back the others.
struct BatchIngestion: Sendable {
    let ingestor: EventIngestor

    func ingest(
        _ elements: [JSONValue], receivedAt: Date, read: (JSONValue) -> EventReading
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
        return BatchReport(accepted: outcome.accepted, duplicates: outcome.duplicates, rejected: rejected)
    }
}
