import Foundation
import MeridianKit

/// The JSON of a notification: its content, read state and deliveries (with every attempt on the single read).
struct NotificationResource: Encodable, Sendable {
    let id: String
    let userID: String?
    let address: String?
    let category: String
    let templateID: String?
    let subject: String
    let text: String
    let html: String?
    let read: Bool
    let readAt: Date?
    let createdAt: Date
    let deliveries: [DeliveryResource]
    let skipped: [SkippedChannel]?

    init(_ notification: Notification, withAttempts: Bool, skipped: [(channel: Channel, reason: String)]? = nil) {
        id = notification.id
        userID = notification.userID
        address = notification.address
        category = notification.category
        templateID = notification.templateID
        subject = notification.content.subject
        text = notification.content.text
        html = notification.content.html
        read = notification.readAt != nil
        readAt = notification.readAt
        createdAt = notification.createdAt
        deliveries = notification.deliveries.map { DeliveryResource($0, withAttempts: withAttempts) }
        self.skipped = skipped.map { $0.map { SkippedChannel(channel: $0.channel.rawValue, reason: $0.reason) } }
    }

    enum CodingKeys: String, CodingKey {
        case id, userID = "user_id", address, category, templateID = "template_id", subject, text, html, read
        case readAt = "read_at", createdAt = "created_at", deliveries, skipped
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(userID, forKey: .userID)
        try container.encodeIfPresent(address, forKey: .address)
        try container.encode(category, forKey: .category)
        try container.encode(templateID, forKey: .templateID)
        try container.encode(subject, forKey: .subject)
        try container.encode(text, forKey: .text)
        try container.encode(html, forKey: .html)
        try container.encode(read, forKey: .read)
        try container.encode(readAt, forKey: .readAt)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(deliveries, forKey: .deliveries)
        try container.encodeIfPresent(skipped, forKey: .skipped)
    }
}

struct SkippedChannel: Encodable, Sendable {
    let channel: String
    let reason: String
}

struct DeliveryResource: Encodable, Sendable {
    let id: String
    let notificationID: String
    let channel: String
    let status: String
    let pushSubscriptionID: String?
    let attemptCount: Int
    let nextAttemptAt: Date?
    let sentAt: Date?
    let createdAt: Date
    let updatedAt: Date
    let attempts: [AttemptResource]?

    init(_ delivery: Delivery, withAttempts: Bool) {
        id = delivery.id
        notificationID = delivery.notificationID
        channel = delivery.channel.rawValue
        status = delivery.status.rawValue
        pushSubscriptionID = delivery.pushSubscriptionID
        attemptCount = delivery.attempts
        nextAttemptAt = [.queued, .failed].contains(delivery.status) ? delivery.nextAttemptAt : nil
        sentAt = delivery.sentAt
        createdAt = delivery.createdAt
        updatedAt = delivery.updatedAt
        attempts = withAttempts ? delivery.attemptLog.map(AttemptResource.init) : nil
    }

    enum CodingKeys: String, CodingKey {
        case id, notificationID = "notification_id", channel, status, pushSubscriptionID = "push_subscription_id"
        case attemptCount = "attempt_count", nextAttemptAt = "next_attempt_at", sentAt = "sent_at"
        case createdAt = "created_at", updatedAt = "updated_at", attempts
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(notificationID, forKey: .notificationID)
        try container.encode(channel, forKey: .channel)
        try container.encode(status, forKey: .status)
        try container.encode(pushSubscriptionID, forKey: .pushSubscriptionID)
        try container.encode(attemptCount, forKey: .attemptCount)
        try container.encode(nextAttemptAt, forKey: .nextAttemptAt)
        try container.encode(sentAt, forKey: .sentAt)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encodeIfPresent(attempts, forKey: .attempts)
    }
}

struct AttemptResource: Encodable, Sendable {
    let id: String
    let outcome: String
    let providerStatus: Int?
    let answer: String
    let startedAt: Date
    let finishedAt: Date

    init(_ attempt: DeliveryAttempt) {
        id = attempt.id
        outcome = attempt.outcome.rawValue
        providerStatus = attempt.providerStatus
        answer = attempt.answer
        startedAt = attempt.startedAt
        finishedAt = attempt.finishedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, outcome, providerStatus = "provider_status", answer, startedAt = "started_at", finishedAt = "finished_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(providerStatus, forKey: .providerStatus)
        try container.encode(answer, forKey: .answer)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(finishedAt, forKey: .finishedAt)
    }
}
