/// A rate limit: `limit` requests per `period` sustained, and up to `burst` at once after a quiet period.
public struct RateLimitPolicy: Sendable, Equatable, CustomStringConvertible {
    public var limit: Int
    public var period: Duration
    public var burst: Int

    public init(limit: Int, period: Duration, burst: Int? = nil) {
        self.limit = limit
        self.period = period
        self.burst = burst ?? limit
    }

    /// Positive numbers and a period from a millisecond to a day; anything else cannot be enforced.
    var isValid: Bool {
        limit > 0 && burst > 0 && period >= .milliseconds(1) && period <= .seconds(86_400)
            && period.microseconds / Int64(limit) >= 1
    }

    /// The window the `RateLimit-Policy` header announces: the seconds in which an empty key refills its burst
    /// (at least one).
    var windowSeconds: Int64 {
        let emission = GCRA(policy: self).emissionInterval
        return max(1, (emission * Int64(burst) + 999_999) / 1_000_000)
    }

    public var description: String { "\(limit)/\(period) burst \(burst)" }
}

/// Who a rule applies to.
public enum RateLimitSubject: Sendable, Hashable {
    /// Every caller, also anonymous ones (keyed by client address).
    case anyone
    /// Callers whose token carries this role.
    case role(String)
    /// Callers whose token was issued to this OAuth client.
    case client(String)
}

/// One configured limit: for a subject, on one route class or all of them.
public struct RateLimitRule: Sendable, Equatable {
    public var subject: RateLimitSubject
    /// nil: every route class.
    public var routeClass: RouteClass?
    public var policy: RateLimitPolicy

    public init(subject: RateLimitSubject, routeClass: RouteClass? = nil, policy: RateLimitPolicy) {
        self.subject = subject
        self.routeClass = routeClass
        self.policy = policy
    }
}

/// The limits of every caller and route class. The most specific rule wins: a client's rule for the class, then
/// the client's rule for all classes, then the caller's roles (for the class, then for all; the most generous
/// role if several match), then the rule for anyone on the class, then for anyone.
public struct RateLimitRules: Sendable {
    public private(set) var rules: [RateLimitRule]

    /// Per-class defaults sized for one person or one integration, not for a load test: identity is tight
    /// (password guessing goes through it), ingestion generous (SDKs send in bursts).
    public static let defaults: [RateLimitRule] = [
        RateLimitRule(subject: .anyone, policy: RateLimitPolicy(limit: 50, period: .seconds(1), burst: 100)),
        RateLimitRule(
            subject: .anyone, routeClass: .identity, policy: RateLimitPolicy(limit: 5, period: .seconds(1), burst: 20)),
        RateLimitRule(
            subject: .anyone, routeClass: .orders, policy: RateLimitPolicy(limit: 10, period: .seconds(1), burst: 20)),
        RateLimitRule(
            subject: .anyone, routeClass: .notifications,
            policy: RateLimitPolicy(limit: 10, period: .seconds(1), burst: 20)),
        RateLimitRule(
            subject: .anyone, routeClass: .ingestion,
            policy: RateLimitPolicy(limit: 200, period: .seconds(1), burst: 500)),
    ]

    /// `rules` on top of the defaults: a rule for the same subject and class replaces the default.
    public init(_ rules: [RateLimitRule] = [], includingDefaults: Bool = true) {
        var merged = includingDefaults ? RateLimitRules.defaults : []
        for rule in rules {
            merged.removeAll { $0.subject == rule.subject && $0.routeClass == rule.routeClass }
            merged.append(rule)
        }
        self.rules = merged
    }

    /// The policy for a caller on a route class, and the name the headers give it.
    public func policy(for routeClass: RouteClass, clientID: String?, roles: Set<String>) -> RateLimitPolicy? {
        if let clientID {
            if let rule = rules.first(where: { $0.subject == .client(clientID) && $0.routeClass == routeClass }) {
                return rule.policy
            }
            if let rule = rules.first(where: { $0.subject == .client(clientID) && $0.routeClass == nil }) {
                return rule.policy
            }
        }
        if !roles.isEmpty {
            for routeClassOrAll in [routeClass, nil] as [RouteClass?] {
                let matching = rules.filter {
                    if case .role(let role) = $0.subject { return roles.contains(role) && $0.routeClass == routeClassOrAll }
                    return false
                }
                if let best = matching.max(by: { Self.rate($0.policy) < Self.rate($1.policy) }) { return best.policy }
            }
        }
        if let rule = rules.first(where: { $0.subject == .anyone && $0.routeClass == routeClass }) { return rule.policy }
        return rules.first(where: { $0.subject == .anyone && $0.routeClass == nil })?.policy
    }

    private static func rate(_ policy: RateLimitPolicy) -> Double {
        Double(policy.limit) / (Double(policy.period.microseconds) / 1e6)
    }

    public struct InvalidRule: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses the configuration text: rules separated by `;`, each `WHO[/CLASS]=LIMIT/PERIOD[,burst=N]`, where
    /// WHO is `*`, `role:NAME` or `client:ID`, CLASS one of identity, orders, notifications, ingestion, reads,
    /// and PERIOD a duration (`1s`, `500ms`, `1m`, `1h`). Example: `*/identity=10/1m,burst=5;role:admin=500/1s`.
    public static func parse(_ text: String) throws -> [RateLimitRule] {
        var rules: [RateLimitRule] = []
        for part in text.split(separator: ";") {
            let item = part.trimmingCharacters(in: .whitespaces)
            if item.isEmpty { continue }
            let sides = item.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard sides.count == 2 else { throw InvalidRule(description: "rate limit rule '\(item)' has no '='") }
            let target = sides[0].split(separator: "/", maxSplits: 1).map(String.init)
            let subject: RateLimitSubject
            switch target[0] {
            case "*": subject = .anyone
            case let who where who.hasPrefix("role:") && who.count > 5: subject = .role(String(who.dropFirst(5)))
            case let who where who.hasPrefix("client:") && who.count > 7: subject = .client(String(who.dropFirst(7)))
            default:
                throw InvalidRule(description: "rate limit rule '\(item)': use *, role:NAME or client:ID before '='")
            }
            var routeClass: RouteClass?
            if target.count == 2 {
                guard let named = RouteClass(rawValue: target[1]) else {
                    throw InvalidRule(
                        description: "rate limit rule '\(item)': unknown route class '\(target[1])' (use "
                            + RouteClass.allCases.map(\.rawValue).joined(separator: ", ") + ")")
                }
                routeClass = named
            }
            let settings = sides[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let rate = settings[0].split(separator: "/", maxSplits: 1).map(String.init)
            guard rate.count == 2, let limit = Int(rate[0]), let period = parseDuration(rate[1]) else {
                throw InvalidRule(description: "rate limit rule '\(item)': expected LIMIT/PERIOD such as 100/1s")
            }
            var burst: Int?
            for setting in settings.dropFirst() {
                guard setting.hasPrefix("burst="), let value = Int(setting.dropFirst(6)) else {
                    throw InvalidRule(description: "rate limit rule '\(item)': unknown setting '\(setting)'")
                }
                burst = value
            }
            let policy = RateLimitPolicy(limit: limit, period: period, burst: burst)
            guard policy.isValid else {
                throw InvalidRule(
                    description: "rate limit rule '\(item)': limit and burst must be positive, the period 1ms to 1 day")
            }
            rules.append(RateLimitRule(subject: subject, routeClass: routeClass, policy: policy))
        }
        return rules
    }

    /// `500ms`, `1s`, `2.5s`, `1m`, `1h`, or a bare number of seconds.
    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value > 0 else { return nil }
            return .microseconds(Int64(value * scale * 1e6))
        }
        guard let value = Double(text), value > 0 else { return nil }
        return .microseconds(Int64(value * 1e6))
    }
}
