import Foundation
import Hummingbird
import MeridianKit

/// `POST /internal/analytics/usage`: the gateway's usage records (docs/gateway.md "Usage telemetry"), sent with its
/// service token (`analytics:write`).
struct UsageIngestRoutes: Sendable {
    let ingestor: EventIngestor
    /// Counts the stored and duplicate records; the service always sets it.
    var metrics: IngestionMetrics? = nil

    func register(on router: Router<MeridianRequestContext>) {
        router.post("/internal/analytics/usage") { request, context in try await ingest(request, context) }
    }

    func ingest(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        let receivedAt = Date()
        var body = try await request.fieldReader(context: context)
        if case .array(let records) = body.raw("records"), records.count > UsageRecords.maxRecords {
            throw Problem.batchTooLarge("The batch has \(records.count) records; at most \(UsageRecords.maxRecords) are accepted.")
        }
        let events = UsageRecords.read(&body, receivedAt: receivedAt)
        try body.finish()
        let outcome = try await ingestor.ingest(events ?? [], receivedAt: receivedAt)
        metrics?.record(.usage, accepted: outcome.accepted, duplicates: outcome.duplicates, rejected: 0)
        return try Response.json(["accepted": outcome.accepted], status: .accepted)
    }
}
