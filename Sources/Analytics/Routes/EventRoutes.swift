import Foundation
import Hummingbird
import MeridianKit

/// `POST /api/analytics/events`: a batch of product events from a trusted backend (a token with
/// `analytics:write`).
struct EventRoutes: Sendable {
    let batches: BatchIngestion
    let configuration: AnalyticsConfiguration

    func register(on router: Router<MeridianRequestContext>) {
        router.post("/api/analytics/events") { request, context in try await ingest(request, context) }
    }

    func ingest(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        let receivedAt = Date()
        let members = try await BatchBody.read(request, context: context)
        var unknown: [FieldError] = []
        for key in members.keys.sorted() where key != "events" && key != "sent_at" {
            unknown.append(FieldError(field: key, message: "is not a known field"))
        }
        if !unknown.isEmpty { throw Problem.validation(unknown) }
        let elements = try BatchBody.elements(members, key: "events")
        let sentAt = try BatchBody.time(members, key: "sent_at")
        let reader = ProductEventReader(
            clock: EventClock(receivedAt: receivedAt, sentAt: sentAt, configuration: configuration),
            breakdowns: PropertyBreakdowns(names: configuration.propertyBreakdowns))
        let report = try await batches.ingest(elements, receivedAt: receivedAt) { reader.read($0) }
        return try Response.json(report)
    }
}
