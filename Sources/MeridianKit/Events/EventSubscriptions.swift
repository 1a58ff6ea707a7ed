/// Which services receive which event types. A producer's outbox writes one delivery per subscriber of the
/// event's type when the event is written, so a later change of this table affects only later events.
/// Subscribers are service names; their base URLs come from `ServiceSettings.url(of:)`.
public struct EventSubscriptions: Sendable, Equatable {
    public private(set) var subscribers: [String: [String]]

    public init(_ subscribers: [String: [String]]) {
        // Each subscriber once per type, in a stable order.
        self.subscribers = subscribers.mapValues { Array(Set($0)).sorted() }
    }

    /// The subscribers of one event type (none for a type nobody consumes).
    public func subscribers(of type: String) -> [String] { subscribers[type] ?? [] }

    /// Every service some event type is delivered to.
    public var allSubscribers: [String] { Array(Set(subscribers.values.joined())).sorted() }

    /// The platform's wiring (docs/events.md): order events go to notifications and analytics, user events to
    /// analytics.
    public static let platform = EventSubscriptions([
        EventType.orderCreated: ["notifications", "analytics"],
        EventType.orderPaid: ["notifications", "analytics"],
        EventType.orderCancelled: ["notifications", "analytics"],
        EventType.orderRefunded: ["notifications", "analytics"],
        EventType.userCreated: ["analytics"],
    ])
}

/// The event types the platform's services publish (payloads in docs/events.md).
public enum EventType {
    public static let orderCreated = "order.created"
    public static let orderPaid = "order.paid"
    public static let orderCancelled = "order.cancelled"
    public static let orderRefunded = "order.refunded"
    public static let userCreated = "user.created"
}
