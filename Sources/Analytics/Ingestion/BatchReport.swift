import MeridianKit

/// The answer to a batch: how many events were stored, how many were already known, and why each rejected
/// event was refused (by its index in the batch).
struct BatchReport: Encodable, Sendable {
    struct Rejection: Encodable, Sendable, Equatable {
        var index: Int
        var errors: [FieldError]
    }

    var accepted: Int
    var duplicates: Int
    var rejected: [Rejection]
}

/// Limits of a batch of events, the same for the API and the Segment routes.
enum BatchLimits {
    static let maxEvents = 1000
    static let maxBytes = 512 * 1024
    /// One event's properties, serialised.
    static let maxPropertyBytes = 32 * 1024
    static let maxNameLength = 200
    static let maxIDLength = 200
}

/// One batch element read: an event to store, or the reasons it is refused.
enum EventReading: Sendable {
    case event(AnalyticsEvent)
    case rejected([FieldError])
}
