import Foundation
import MeridianKit

/// Reads Segment's tracking-API messages (`track`, `identify`, `page`, `screen`), as the Segment SDKs send them,
/// into events. Like Segment, unknown members are ignored (SDKs add `context`, `integrations`, `_metadata` and
/// more); `context` is dropped rather than stored, since it carries the client's IP address and user agent.
struct SegmentMessageReader: Sendable {
    let clock: EventClock
    let breakdowns: PropertyBreakdowns

    static let types = ["track", "identify", "page", "screen"]

    /// `impliedType` is the route's type for `/v1/track` and the like; nil for `/v1/batch`, where each message
    /// names its own.
    func read(_ value: JSONValue, impliedType: String?) -> EventReading {
        guard case .object(let members) = value else {
            return .rejected([FieldError(field: "", message: "must be an object, not \(value.kindName)")])
        }
        var body = FieldReader(members: members, path: "")
        var type = impliedType
        if impliedType == nil {
            type = body.string("type", maxLength: 20)
            if let given = type, !SegmentMessageReader.types.contains(given) {
                body.fail("type", "must be one of \(SegmentMessageReader.types.joined(separator: ", "))")
                type = nil
            }
        }
        let messageID = body.optionalString("messageId", minLength: 1, maxLength: BatchLimits.maxIDLength)
        let userID = body.optionalString("userId", minLength: 1, maxLength: BatchLimits.maxIDLength)
        let anonymousID = body.optionalString("anonymousId", minLength: 1, maxLength: BatchLimits.maxIDLength)
        if userID == nil, anonymousID == nil { body.fail("userId", "or anonymousId is required") }
        let occurredAt = EventFields.time(&body, "timestamp", clock: clock)

        var name: String?
        var properties: JSONValue?
        switch type {
        case "track":
            name = EventFields.name(&body, "event", allowReserved: false)
            properties = EventFields.properties(&body, "properties")
        case "identify":
            name = "$identify"
            properties = EventFields.properties(&body, "traits")
        case "page", "screen":
            name = type == "page" ? "$pageview" : "$screen"
            var merged: [String: JSONValue] = [:]
            if case .object(let given) = EventFields.properties(&body, "properties") { merged = given }
            if let title = body.optionalString("name", maxLength: BatchLimits.maxNameLength) { merged["name"] = .string(title) }
            if let category = body.optionalString("category", maxLength: BatchLimits.maxNameLength) {
                merged["category"] = .string(category)
            }
            properties = merged.isEmpty ? nil : .object(merged)
        default:
            break
        }
        guard body.errors.isEmpty, let name, let occurredAt, userID != nil || anonymousID != nil else {
            return .rejected(body.errors)
        }
        // Segment ids are free-form; a UUID is normalised so the same message sent twice is the same key.
        let id = messageID.map { UUID(uuidString: $0)?.uuidString.lowercased() ?? $0 } ?? UUID().uuidString.lowercased()
        return .event(AnalyticsEvent(
            id: id, name: name, userID: userID, anonymousID: anonymousID, occurredAt: occurredAt,
            properties: properties, source: .segment, dimensions: breakdowns.dimensions(of: properties)))
    }
}
