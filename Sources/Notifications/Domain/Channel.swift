/// The ways a notification reaches its recipient.
public enum Channel: String, CaseIterable, Sendable, Codable {
    case email
    case push
    /// Stored in the service and listed by the recipient (`GET /api/notifications`); delivered on creation.
    case inApp = "in_app"

    static let names = Channel.allCases.map(\.rawValue)
}
