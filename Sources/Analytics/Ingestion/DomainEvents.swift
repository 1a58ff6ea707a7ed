import Foundation
import MeridianKit
import SQLKit

/// The other services' domain events (docs/events.md), received through the inbox and stored as product
/// events of the user they concern: `order.created`, `order.paid`, `order.cancelled`, `order.refunded` and
/// `user.created`. The envelope id is the event id, so a redelivery is also a duplicate here.
struct DomainEvents: Sendable {
    let ingestor: EventIngestor

    static let orderTypes: Set<String> = ["order.created", "order.paid", "order.cancelled", "order.refunded"]

    func apply(_ envelope: EventEnvelope, on sql: any SQLDatabase) async throws {
        guard let event = try DomainEvents.event(envelope) else { throw UnhandledEventType(envelope.type) }
        _ = try await ingestor.ingest([event], receivedAt: Date(), on: sql)
    }

    static func event(_ envelope: EventEnvelope) throws -> AnalyticsEvent? {
        guard case .object(let payload) = envelope.payload else { throw Problem.malformedPayload(envelope.type) }
        let properties: [String: JSONValue]
        if orderTypes.contains(envelope.type) {
            // Item names are free text and stay out; the rollups and funnels need the money and the shape.
            var kept: [String: JSONValue] = [:]
            for key in ["order_id", "status", "total"] { kept[key] = payload[key] }
            if case .array(let items) = payload["items"] { kept["item_count"] = .integer(Int64(items.count)) }
            properties = kept
        } else if envelope.type == "user.created" {
            properties = [:]
        } else {
            return nil
        }
        guard case .string(let userID) = payload["user_id"], !userID.isEmpty, userID.count <= BatchLimits.maxIDLength else {
            throw Problem.malformedPayload(envelope.type)
        }
        return AnalyticsEvent(
            id: envelope.id, name: envelope.type, userID: userID, anonymousID: nil,
            occurredAt: Timestamp.micros(envelope.occurredAt), properties: .object(properties), source: .domain)
    }
}

extension Problem {
    static func malformedPayload(_ type: String) -> Problem {
        Problem(
            .unprocessableContent, type: Problem.typeBase + "malformed-event", title: "Malformed event",
            detail: "The \(type.prefix(60)) payload lacks a user_id string.")
    }
}
