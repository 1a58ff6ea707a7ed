import HTTPTypes
import Hummingbird
import MeridianKit

extension HTTPField.Name {
    static let rateLimitPolicy = HTTPField.Name("RateLimit-Policy")!
    static let rateLimit = HTTPField.Name("RateLimit")!
}

/// Applies the rate limits to one request: finds the caller's policy for the route class, asks the limiter,
/// and answers with the IETF headers (draft-ietf-httpapi-ratelimit-headers, structured-field form):
/// `RateLimit-Policy: "orders";q=20;w=2` (quota and window in seconds) and `RateLimit: "orders";r=19;t=1`
/// (remaining and seconds until the quota is full again). Over the limit: 429, `Retry-After`, problem+json.
struct RateLimitGate: Sendable {
    let rules: RateLimitRules
    let limiter: RateLimiter
    let metrics: GatewayMetrics
    /// The GCRA of every policy, computed once rather than per request (policies are few).
    private let anyonePolicies: [RouteClass: RateLimitPolicy]

    init(rules: RateLimitRules, limiter: RateLimiter, metrics: GatewayMetrics) {
        self.rules = rules
        self.limiter = limiter
        self.metrics = metrics
        var anyone: [RouteClass: RateLimitPolicy] = [:]
        for routeClass in RouteClass.allCases {
            anyone[routeClass] = rules.policy(for: routeClass, clientID: nil, roles: [])
        }
        self.anyonePolicies = anyone
    }

    /// The key of a caller: the token's subject (a user, or the client of a client-credentials token), or the
    /// client address for anonymous requests.
    static func caller(_ context: MeridianRequestContext) -> String {
        if let principal = context.principal { return "sub:" + principal.subject }
        if let ip = context.remoteAddress?.ipAddress { return "ip:" + ip }
        return "ip:unknown"
    }

    /// The headers for the response, or a 429 (503 when Redis is away and the failure mode is `closed`).
    func check(_ routeClass: RouteClass, context: MeridianRequestContext) async throws -> HTTPFields {
        let policy: RateLimitPolicy?
        if let principal = context.principal {
            policy = rules.policy(for: routeClass, clientID: principal.clientID, roles: principal.roles)
        } else {
            policy = anyonePolicies[routeClass]
        }
        guard let policy else { return [:] }
        let gcra = GCRA(policy: policy)
        let key = routeClass.rawValue + ":" + Self.caller(context)
        switch await limiter.decide(key: key, gcra: gcra) {
        case .unavailable:
            throw Problem(
                .serviceUnavailable, detail: "Rate limits cannot be checked right now; retry shortly.",
                headers: [.retryAfter: "1"])
        case .decided(let decision):
            metrics.rateLimit(routeClass, admitted: decision.admitted)
            var headers = HTTPFields()
            let name = "\"\(routeClass.rawValue)\""
            headers[.rateLimitPolicy] = "\(name);q=\(policy.burst);w=\(policy.windowSeconds)"
            let reset = Self.seconds(decision.admitted ? decision.resetAfter : decision.retryAfter)
            headers[.rateLimit] = "\(name);r=\(decision.remaining);t=\(reset)"
            guard decision.admitted else {
                headers[.retryAfter] = String(Self.seconds(decision.retryAfter))
                throw Problem(
                    .tooManyRequests, type: Problem.typeBase + "rate-limited", title: "Too Many Requests",
                    detail: "Rate limit for \(routeClass.rawValue) requests exceeded (\(policy.limit) per "
                        + "\(policy.period), bursts of \(policy.burst)); retry after the time in Retry-After.",
                    headers: headers)
            }
            return headers
        }
    }

    /// Whole seconds, rounded up: a client that waits this long is admitted.
    static func seconds(_ microseconds: Int64) -> Int64 {
        max(0, (microseconds + 999_999) / 1_000_000)
    }
}
