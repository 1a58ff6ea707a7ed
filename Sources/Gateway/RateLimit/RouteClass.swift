import HTTPTypes

/// The kinds of traffic the gateway limits and sheds separately: each has its own rate limits, and under load
/// the lower-priority kinds are refused first.
public enum RouteClass: String, Sendable, CaseIterable, Hashable {
    /// Signing in and getting tokens (`/oauth/…`) and changes to users, roles and clients.
    case identity
    /// Creating and changing orders and payments.
    case orders
    /// Sending notifications and changing subscriptions, templates and preferences.
    case notifications
    /// Analytics ingestion: the Segment-compatible `/v1` API and writes under `/api/analytics`.
    case ingestion
    /// Every GET, HEAD and OPTIONS.
    case reads

    /// Under load, traffic of a lower priority is shed first: ingestion before reads before the rest.
    public var priority: ShedPriority {
        switch self {
        case .ingestion: .low
        case .reads, .notifications: .normal
        case .identity, .orders: .critical
        }
    }

    /// The class of a request to a proxied prefix. Safe methods are reads wherever they go, except on the
    /// authorization server, whose form and token endpoints are the ones attackers hammer.
    public static func of(method: HTTPRequest.Method, prefix: String, service: String) -> RouteClass {
        if prefix == "/oauth" { return .identity }
        if prefix == "/v1" { return .ingestion }
        if method == .get || method == .head || method == .options { return .reads }
        switch service {
        case "users": return .identity
        case "orders": return .orders
        case "notifications": return .notifications
        case "analytics": return .ingestion
        default: return .reads
        }
    }
}

/// How much of an upstream's capacity a request may use: low-priority requests are refused while the
/// upstream is still half free, critical ones only when it is full.
public enum ShedPriority: Int, Sendable, Comparable {
    case low = 0, normal = 1, critical = 2

    public static func < (lhs: ShedPriority, rhs: ShedPriority) -> Bool { lhs.rawValue < rhs.rawValue }
}
