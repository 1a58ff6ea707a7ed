import Foundation
import MeridianKit
import SQLKit

/// Converts notifications, deliveries and attempts to and from their rows, sealing and opening the
/// user-supplied columns.
struct NotificationRows: Sendable {
    let sealer: Sealer

    static let notificationColumns = [
        "id", "user_id", "category", "template_id", "sender", "source_event_id", "content", "address", "read_at",
        "created_at",
    ]

    func values(of notification: Notification) throws -> [any SQLExpression] {
        [
            SQLBind(notification.id), SQLBind(notification.userID), SQLBind(notification.category),
            SQLBind(notification.templateID), SQLBind(notification.sender), SQLBind(notification.sourceEventID),
            SQLBind(try sealer.sealJSON(notification.content, "notifications", "content", notification.id)),
            SQLBind(try notification.address.map { try sealer.seal($0, "notifications", "address", notification.id) }),
            SQLBind(notification.readAt.map(Timestamp.micros)), SQLBind(Timestamp.micros(notification.createdAt)),
        ]
    }

    func notification(from row: any SQLRow, deliveries: [Delivery]) throws -> Notification {
        let id = try row.decode(column: "id", as: String.self)
        let address = try row.decode(column: "address", as: Data?.self)
        return Notification(
            id: id,
            userID: try row.decode(column: "user_id", as: String?.self),
            category: try row.decode(column: "category", as: String.self),
            templateID: try row.decode(column: "template_id", as: String?.self),
            sender: try row.decode(column: "sender", as: String.self),
            sourceEventID: try row.decode(column: "source_event_id", as: String?.self),
            content: try sealer.openJSON(
                RenderedMessage.self, try row.decode(column: "content", as: Data.self), "notifications", "content", id),
            address: try address.map { try sealer.open($0, "notifications", "address", id) },
            readAt: try row.decode(column: "read_at", as: Int64?.self).map(Timestamp.date(micros:)),
            createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)),
            deliveries: deliveries)
    }

    static let deliveryColumns = [
        "id", "notification_id", "user_id", "channel", "status", "push_subscription_id", "attempts",
        "next_attempt_at", "lease_token", "lease_expires_at", "queued_at", "created_at", "updated_at", "sent_at",
        "traceparent",
    ]

    static func values(of delivery: Delivery) -> [any SQLExpression] {
        [
            SQLBind(delivery.id), SQLBind(delivery.notificationID), SQLBind(delivery.userID),
            SQLBind(delivery.channel.rawValue), SQLBind(delivery.status.rawValue), SQLBind(delivery.pushSubscriptionID),
            SQLBind(Int64(delivery.attempts)), SQLBind(Timestamp.micros(delivery.nextAttemptAt)), SQLBind(String?.none),
            SQLBind(Int64?.none), SQLBind(Timestamp.micros(delivery.queuedAt)), SQLBind(Timestamp.micros(delivery.createdAt)),
            SQLBind(Timestamp.micros(delivery.updatedAt)), SQLBind(delivery.sentAt.map(Timestamp.micros)),
            SQLBind(delivery.traceparent),
        ]
    }

    static func delivery(from row: any SQLRow, attempts: [DeliveryAttempt] = []) throws -> Delivery {
        let id = try row.decode(column: "id", as: String.self)
        let channelText = try row.decode(column: "channel", as: String.self)
        let statusText = try row.decode(column: "status", as: String.self)
        guard let channel = Channel(rawValue: channelText), let status = DeliveryStatus(rawValue: statusText) else {
            throw StoredDataInconsistent(detail: "delivery \(id) has channel \(channelText) and status \(statusText)")
        }
        return Delivery(
            id: id,
            notificationID: try row.decode(column: "notification_id", as: String.self),
            userID: try row.decode(column: "user_id", as: String?.self),
            channel: channel, status: status,
            pushSubscriptionID: try row.decode(column: "push_subscription_id", as: String?.self),
            attempts: Int(try row.decode(column: "attempts", as: Int64.self)),
            nextAttemptAt: Timestamp.date(micros: try row.decode(column: "next_attempt_at", as: Int64.self)),
            queuedAt: Timestamp.date(micros: try row.decode(column: "queued_at", as: Int64.self)),
            createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Timestamp.date(micros: try row.decode(column: "updated_at", as: Int64.self)),
            sentAt: try row.decode(column: "sent_at", as: Int64?.self).map(Timestamp.date(micros:)),
            attemptLog: attempts,
            traceparent: try row.decode(column: "traceparent", as: String?.self))
    }

    func attempt(from row: any SQLRow) throws -> DeliveryAttempt {
        let id = try row.decode(column: "id", as: String.self)
        let outcomeText = try row.decode(column: "outcome", as: String.self)
        guard let outcome = AttemptOutcome(rawValue: outcomeText) else {
            throw StoredDataInconsistent(detail: "attempt \(id) has outcome \(outcomeText)")
        }
        return DeliveryAttempt(
            id: id,
            deliveryID: try row.decode(column: "delivery_id", as: String.self),
            outcome: outcome,
            providerStatus: try row.decode(column: "provider_status", as: Int64?.self).map { Int($0) },
            answer: try sealer.open(try row.decode(column: "answer", as: Data.self), "delivery_attempts", "answer", id),
            startedAt: Timestamp.date(micros: try row.decode(column: "started_at", as: Int64.self)),
            finishedAt: Timestamp.date(micros: try row.decode(column: "finished_at", as: Int64.self)))
    }

    func values(of attempt: DeliveryAttempt) throws -> [any SQLExpression] {
        [
            SQLBind(attempt.id), SQLBind(attempt.deliveryID), SQLBind(attempt.outcome.rawValue),
            SQLBind(attempt.providerStatus.map { Int64($0) }),
            SQLBind(try sealer.seal(attempt.answer, "delivery_attempts", "answer", attempt.id)),
            SQLBind(Timestamp.micros(attempt.startedAt)), SQLBind(Timestamp.micros(attempt.finishedAt)),
        ]
    }

    static let attemptColumns = ["id", "delivery_id", "outcome", "provider_status", "answer", "started_at", "finished_at"]
}

/// A stored row this code cannot read back: a bug or a hand-edited database, never the client's fault.
struct StoredDataInconsistent: Error, CustomStringConvertible {
    let detail: String
    var description: String { "stored data is inconsistent: \(detail)" }
}
