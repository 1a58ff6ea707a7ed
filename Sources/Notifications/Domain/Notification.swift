import Foundation

/// One message to one recipient: a user (by id) or, for administrators, a raw email address. A send request
/// naming several recipients makes one notification each, so every recipient has their own inbox entry, read
/// state and delivery history.
struct Notification: Sendable {
    var id: String
    /// The recipient user; nil for a raw address.
    var userID: String?
    var category: String
    var templateID: String?
    /// Who asked for it: a subject, or `event:<type>` for messages driven by events.
    var sender: String
    var sourceEventID: String?
    var content: RenderedMessage
    /// The raw email address of a notification without a user.
    var address: String?
    var readAt: Date?
    var createdAt: Date
    var deliveries: [Delivery]
}

/// One channel's way to the recipient (for push: one browser subscription) and its progress.
struct Delivery: Sendable {
    var id: String
    var notificationID: String
    var userID: String?
    var channel: Channel
    var status: DeliveryStatus
    var pushSubscriptionID: String?
    /// Attempts started since the delivery was (re-)queued.
    var attempts: Int
    var nextAttemptAt: Date
    /// When the delivery last entered the queue (creation, or a re-send): the age bound counts from here.
    var queuedAt: Date
    var createdAt: Date
    var updatedAt: Date
    var sentAt: Date?
    var attemptLog: [DeliveryAttempt]
    /// The W3C `traceparent` of the span that queued it: the worker's attempt continues that trace.
    var traceparent: String? = nil
}

/// One try at a provider and what it answered.
struct DeliveryAttempt: Sendable {
    var id: String
    var deliveryID: String
    var outcome: AttemptOutcome
    var providerStatus: Int?
    /// The provider's answer as it gave it (an SMTP reply, an HTTP status line), or why no provider was reached.
    var answer: String
    var startedAt: Date
    var finishedAt: Date
}

enum AttemptOutcome: String, Sendable, Codable {
    case sent
    /// Worth another try later.
    case transient
    /// Refused for good.
    case permanent
    /// The push subscription no longer exists (404 or 410); it is deleted.
    case gone
}

/// What a channel reports about one attempt.
struct ChannelResult: Sendable, Equatable {
    var outcome: AttemptOutcome
    var providerStatus: Int?
    var answer: String
    /// The provider's `Retry-After`, honoured as the least delay before the next attempt.
    var retryAfter: Duration?

    static func sent(_ answer: String, status: Int? = nil) -> ChannelResult {
        ChannelResult(outcome: .sent, providerStatus: status, answer: answer)
    }
    static func transient(_ answer: String, status: Int? = nil, retryAfter: Duration? = nil) -> ChannelResult {
        ChannelResult(outcome: .transient, providerStatus: status, answer: answer, retryAfter: retryAfter)
    }
    static func permanent(_ answer: String, status: Int? = nil) -> ChannelResult {
        ChannelResult(outcome: .permanent, providerStatus: status, answer: answer)
    }
}
