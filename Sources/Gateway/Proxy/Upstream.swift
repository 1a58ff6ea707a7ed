import Foundation
import MeridianKit

/// One service behind the gateway: where it lives and how long it may take to answer.
struct Upstream: Sendable {
    let service: String
    /// `scheme://host[:port][/base-path]` without a trailing slash; the client's request target is appended.
    let baseURL: String
    let timeout: Duration
    /// Shedding, circuit breaking and the retry budget of this upstream; set by `GatewayService`.
    var guards: UpstreamGuards?

    /// The public path prefixes the gateway proxies, by the service that owns them. A prefix matches itself and
    /// everything below it (`/api/users`, `/api/users/…`), never a longer segment (`/api/usersx`).
    static let routes: [(prefix: String, service: String)] = [
        ("/api/users", "users"),
        ("/api/roles", "users"),
        ("/api/clients", "users"),
        // The authorization server and its metadata (RFC 8414, JWKS) live in the users service.
        ("/oauth", "users"),
        ("/.well-known", "users"),
        ("/api/orders", "orders"),
        ("/api/notifications", "notifications"),
        ("/api/analytics", "analytics"),
        ("/api/push-subscriptions", "notifications"),
        ("/api/notification-templates", "notifications"),
        ("/api/notification-preferences", "notifications"),
        // The Segment-compatible ingestion API; public here, analytics checks the write key.
        ("/v1", "analytics"),
        ("/api/audit/users", "users"),
        ("/api/audit/orders", "orders"),
        ("/api/audit/notifications", "notifications"),
        ("/api/audit/analytics", "analytics"),
    ]

    /// The service that issues access tokens and publishes their keys (`/.well-known/jwks.json`).
    static let identityService = "users"

    static var services: [String] {
        var seen: [String] = []
        for route in routes where !seen.contains(route.service) { seen.append(route.service) }
        return seen
    }

    /// Reads and checks the configured base URL of `service`, so a typo fails at start-up, not per request.
    init(service: String, settings: ServiceSettings, options: GatewayOptions) throws {
        let text = try settings.url(of: service)
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil, components.user == nil
        else {
            throw GatewayConfigurationError(
                description: "the \(service) service URL '\(text)' is not a base URL like http://host:port "
                    + "(set --\(service)-url or MERIDIAN_\(service.uppercased())_URL)")
        }
        let timeout = options.timeout(for: service)
        guard timeout > .zero else {
            throw GatewayConfigurationError(description: "the \(service) upstream timeout must be positive")
        }
        self.service = service
        self.baseURL = text.hasSuffix("/") ? String(text.dropLast()) : text
        self.timeout = timeout
    }
}

/// A gateway setting that cannot work; the message names the setting.
public struct GatewayConfigurationError: Error, CustomStringConvertible {
    public let description: String
}
