import Foundation
import MeridianKit

/// Validates one event of `POST /api/analytics/events` strictly: every field checked, unknown fields refused,
/// every problem reported against the event's index.
struct ProductEventReader: Sendable {
    let clock: EventClock
    let breakdowns: PropertyBreakdowns

    func read(_ value: JSONValue) -> EventReading {
        guard case .object(let members) = value else {
            return .rejected([FieldError(field: "", message: "must be an object, not \(value.kindName)")])
        }
        var body = FieldReader(members: members, path: "")
        let id = body.string("id", maxLength: 36).flatMap { text -> String? in
            guard let uuid = UUID(uuidString: text) else {
                body.fail("id", "must be a UUID")
                return nil
            }
            return uuid.uuidString.lowercased()
        }
        let name = EventFields.name(&body, "name", allowReserved: false)
        let userID = body.optionalString("user_id", minLength: 1, maxLength: BatchLimits.maxIDLength)
        let anonymousID = body.optionalString("anonymous_id", minLength: 1, maxLength: BatchLimits.maxIDLength)
        if userID == nil, anonymousID == nil,
            !body.errors.contains(where: { $0.field == "user_id" || $0.field == "anonymous_id" })
        {
            body.fail("user_id", "or anonymous_id is required")
        }
        let occurredAt = EventFields.time(&body, "timestamp", clock: clock)
        let properties = EventFields.properties(&body, "properties")
        body.finishWithoutThrowing()
        guard body.errors.isEmpty, let id, let name, let occurredAt, userID != nil || anonymousID != nil else {
            return .rejected(body.errors)
        }
        return .event(AnalyticsEvent(
            id: id, name: name, userID: userID, anonymousID: anonymousID, occurredAt: occurredAt,
            properties: properties, source: .api, dimensions: breakdowns.dimensions(of: properties)))
    }
}

/// Field rules shared by the API and Segment readers.
enum EventFields {
    /// Names starting with `$` are the platform's own (`$request`, `$identify`, `$pageview`).
    static func name(_ body: inout FieldReader, _ field: String, allowReserved: Bool) -> String? {
        guard let name = body.string(field, maxLength: BatchLimits.maxNameLength) else { return nil }
        if !allowReserved, name.hasPrefix("$") {
            body.fail(field, "must not start with $ (reserved for the platform's own events)")
            return nil
        }
        return name
    }

    static func time(_ body: inout FieldReader, _ field: String, clock: EventClock) -> Int64? {
        var timestamp: Date?
        if let raw = body.raw(field) {
            guard case .string(let text) = raw, let date = Timestamp.parse(text) else {
                body.fail(field, "must be an RFC 3339 time")
                return nil
            }
            timestamp = date
        }
        switch clock.occurredAt(timestamp) {
        case .success(let micros): return micros
        case .failure(let rejection):
            body.fail(field, rejection.message)
            return nil
        }
    }

    static func properties(_ body: inout FieldReader, _ field: String) -> JSONValue? {
        guard let value = body.raw(field) else { return nil }
        guard case .object = value else {
            body.fail(field, "must be an object, not \(value.kindName)")
            return nil
        }
        if value.serialized().count > BatchLimits.maxPropertyBytes {
            body.fail(field, "must be at most \(BatchLimits.maxPropertyBytes) bytes of JSON")
            return nil
        }
        return value
    }
}

extension FieldReader {
    /// Records unknown members as errors, like `finish()`, but leaves the reporting to the caller: a batch
    /// reports each event's errors instead of failing as a whole.
    mutating func finishWithoutThrowing() {
        do { try finish() } catch {}
    }
}

/// The configured product-event breakdowns: which properties' values the rollups count by.
struct PropertyBreakdowns: Sendable {
    let names: [String]
    static let maxValueLength = 100

    /// Scalar values only, at most 100 characters; anything else does not break down.
    func dimensions(of properties: JSONValue?) -> [(dimension: String, value: String)] {
        guard !names.isEmpty, case .object(let members) = properties else { return [] }
        var dimensions: [(dimension: String, value: String)] = []
        for name in names {
            let value: String
            switch members[name] {
            case .string(let text): value = text
            case .integer(let number): value = String(number)
            case .bool(let flag): value = String(flag)
            default: continue
            }
            if value.count <= PropertyBreakdowns.maxValueLength { dimensions.append((name, value)) }
        }
        return dimensions
    }
}
