import Foundation
import Hummingbird
import MeridianKit

/// `GET /api/analytics/events?user_id=` (support tooling: a user's raw events, oldest first, cursor-paginated)
/// and `DELETE /api/analytics/users/{id}` (right to erasure).
struct UserEventRoutes: Sendable {
    let database: any Database
    let events: EventQueries
    let audit: AuditLog
    let configuration: AnalyticsConfiguration

    func register(on router: Router<MeridianRequestContext>) {
        router.get("/api/analytics/events") { request, _ in try await list(request) }
        router.delete("/api/analytics/users/:id") { _, context in try await erase(context) }
    }

    func list(_ request: Request) async throws -> Response {
        var query = QueryReader(request, known: PageRequest.parameters.union(["user_id"]))
        let userID = query.string("user_id", maxLength: BatchLimits.maxIDLength)
        if query.raw("user_id") == nil { query.fail("user_id", "is required") }
        let page = PageRequest(reading: &query)
        if let after = page.after, EventQueries.cursor(after) == nil { query.fail("cursor", "is not a cursor this API issued") }
        try query.finish()
        guard let userID else { throw Problem.badQuery(query.errors) }
        let rows = try await events.events(of: userID, page: page)
        let data = Array(rows.prefix(page.limit))
        let next = rows.count > page.limit ? data.last.map { PageRequest.encodeCursor($0.cursor) } : nil
        let body = JSONValue.object([
            "data": .array(data.map(\.json)), "next_cursor": next.map(JSONValue.string) ?? .null,
        ]).serialized()
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Deletes every raw event of the user (by user id, or by anonymous id for anonymous events) and takes
    /// their counts out of the rollups, with an audit record in the same transaction. Answers how many events
    /// were erased (0 is not an error: erasure is idempotent).
    func erase(_ context: MeridianRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard !id.isEmpty, id.count <= BatchLimits.maxIDLength else {
            throw Problem.validation([FieldError(field: "id", message: "must be 1 to \(BatchLimits.maxIDLength) characters")])
        }
        let breakdowns = PropertyBreakdowns(names: configuration.propertyBreakdowns)
        let erased = try await database.transaction { sql in
            let erased = try await events.erase(id, configuration: breakdowns, on: sql)
            try await audit.append(
                AuditEvent(
                    action: "analytics.erase", resourceType: "analytics_user", resourceID: id,
                    changes: .object(["erased_events": .integer(Int64(erased))])),
                actor: AuditActor(context: context), on: sql)
            return erased
        }
        context.logger.info("erased a user's analytics events", metadata: ["erased_events": "\(erased)"])
        return try Response.json(["erased_events": erased])
    }
}
