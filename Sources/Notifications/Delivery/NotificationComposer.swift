import Foundation
import MeridianKit
import SQLKit

/// Turns "send this to these recipients" into notifications and their deliveries, in the caller's
/// transaction: applies each user's preferences, fans push out to every subscription, stores in-app messages
/// as delivered, queues the rest, and appends one audit record per notification.
struct NotificationComposer: Sendable {
    let store: NotificationStore
    let preferences: PreferenceStore
    let subscriptions: PushSubscriptionStore
    let audit: AuditLog

    enum Recipient: Sendable, Equatable {
        case user(String)
        case address(String)
    }

    struct Request: Sendable {
        var recipients: [Recipient]
        /// nil: the users' preferred channels.
        var channels: [Channel]?
        var category: String
        var templateID: String?
        var content: RenderedMessage
        var sender: String
        var sourceEventID: String?
    }

    struct Composed: Sendable {
        var notification: Notification
        var skipped: [(channel: Channel, reason: String)]
    }

    func compose(_ request: Request, actor: AuditActor, now: Date, on sql: any SQLDatabase) async throws -> [Composed] {
        var composed: [Composed] = []
        for recipient in request.recipients {
            let id = Identifier.make(prefix: "ntf", now: now)
            var notification = Notification(
                id: id, userID: nil, category: request.category, templateID: request.templateID, sender: request.sender,
                sourceEventID: request.sourceEventID, content: request.content, address: nil, readAt: nil,
                createdAt: now, deliveries: [])
            var skipped: [(Channel, String)] = []
            switch recipient {
            case .address(let address):
                notification.address = address
                notification.deliveries = [delivery(for: notification, channel: .email, subscription: nil, now: now)]
            case .user(let userID):
                notification.userID = userID
                let optedOut = try await preferences.optedOut(userID: userID, category: request.category, on: sql)
                let selection = ChannelSelection.select(
                    requested: request.channels, category: request.category, optedOut: optedOut)
                skipped = selection.skipped
                for channel in selection.channels {
                    if channel == .push {
                        let ids = try await subscriptions.subscriptionIDs(userID: userID, on: sql)
                        if ids.isEmpty { skipped.append((.push, "the recipient has no push subscription")) }
                        for subscriptionID in ids {
                            notification.deliveries.append(
                                delivery(for: notification, channel: .push, subscription: subscriptionID, now: now))
                        }
                    } else {
                        notification.deliveries.append(delivery(for: notification, channel: channel, subscription: nil, now: now))
                    }
                }
            }
            try await store.insert([notification], on: sql)
            try await audit.append(
                AuditEvent(
                    action: "notification.send", resourceType: "notification", resourceID: id,
                    changes: .object([
                        "category": .string(request.category),
                        "template_id": request.templateID.map(JSONValue.string) ?? .null,
                        "recipient_user_id": notification.userID.map(JSONValue.string) ?? .null,
                        "channels": .array(notification.deliveries.map { .string($0.channel.rawValue) }),
                        "source_event_id": request.sourceEventID.map(JSONValue.string) ?? .null,
                    ])),
                actor: actor, on: sql)
            composed.append(Composed(notification: notification, skipped: skipped))
        }
        return composed
    }

    /// In-app messages are delivered by being stored; every other channel starts in the queue.
    private func delivery(for notification: Notification, channel: Channel, subscription: String?, now: Date) -> Delivery {
        let inApp = channel == .inApp
        return Delivery(
            id: Identifier.make(prefix: "dlv", now: now), notificationID: notification.id, userID: notification.userID,
            channel: channel, status: inApp ? .sent : .queued, pushSubscriptionID: subscription, attempts: 0,
            nextAttemptAt: now, queuedAt: now, createdAt: now, updatedAt: now, sentAt: inApp ? now : nil, attemptLog: [],
            traceparent: inApp ? nil : QueuedWorkSpan.currentTraceparent())
    }
}
