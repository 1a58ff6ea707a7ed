import Foundation

extension GatewayOptions {
    /// Reads the gateway's settings through `value(key, isSecret)` (the CLI's configuration reader: flags,
    /// then `MERIDIAN_*` variables, then the file). Keys and their variables:
    ///
    /// | key | variable | value |
    /// |---|---|---|
    /// | `ratelimit.enabled` | `MERIDIAN_RATELIMIT_ENABLED` | `true` (default) or `false` |
    /// | `ratelimit.rules` | `MERIDIAN_RATELIMIT_RULES` | rules on top of the defaults (`RateLimitRules.parse`) |
    /// | `ratelimit.store` | `MERIDIAN_RATELIMIT_STORE` | `memory` (default) or `redis` |
    /// | `redis.url` | `MERIDIAN_REDIS_URL` | `redis://[:password@]host[:port][/db]` (secret) |
    /// | `ratelimit.redis.timeout` | `MERIDIAN_RATELIMIT_REDIS_TIMEOUT` | `100ms` (default) |
    /// | `ratelimit.failure` | `MERIDIAN_RATELIMIT_FAILURE` | `local` (default), `open` or `closed` |
    /// | `upstream.concurrency` | `MERIDIAN_UPSTREAM_CONCURRENCY` | requests in flight per upstream (512) |
    /// | `client.idle.timeout` | `MERIDIAN_CLIENT_IDLE_TIMEOUT` | `30s` (default) |
    /// | `usage.enabled` | `MERIDIAN_USAGE_ENABLED` | `true` (default) or `false` |
    public mutating func configure(_ value: (_ key: String, _ isSecret: Bool) -> String?) throws {
        if let text = value("ratelimit.enabled", false) {
            rateLimitingEnabled = try Self.bool(text, setting: "MERIDIAN_RATELIMIT_ENABLED")
        }
        if let text = value("ratelimit.rules", false) {
            do {
                rateLimits = RateLimitRules(try RateLimitRules.parse(text))
            } catch {
                throw GatewayConfigurationError(description: "MERIDIAN_RATELIMIT_RULES: \(error)")
            }
        }
        if let text = value("ratelimit.store", false) {
            guard let store = RateLimitStoreKind(rawValue: text.lowercased()) else {
                throw GatewayConfigurationError(
                    description: "invalid MERIDIAN_RATELIMIT_STORE '\(text)': use memory or redis")
            }
            rateLimitStore = store
        }
        if let url = value("redis.url", true) { redisURL = url }
        if let text = value("ratelimit.redis.timeout", false) {
            redisTimeout = try Self.duration(text, setting: "MERIDIAN_RATELIMIT_REDIS_TIMEOUT")
        }
        if let text = value("ratelimit.failure", false) {
            guard let mode = RateLimitFailureMode(rawValue: text.lowercased()) else {
                throw GatewayConfigurationError(
                    description: "invalid MERIDIAN_RATELIMIT_FAILURE '\(text)': use local, open or closed")
            }
            rateLimitFailureMode = mode
        }
        if let text = value("upstream.concurrency", false) {
            guard let number = Int(text), number > 0 else {
                throw GatewayConfigurationError(
                    description: "invalid MERIDIAN_UPSTREAM_CONCURRENCY '\(text)': use a positive number")
            }
            concurrencyPerUpstream = number
        }
        if let text = value("client.idle.timeout", false) {
            clientIdleTimeout = try Self.duration(text, setting: "MERIDIAN_CLIENT_IDLE_TIMEOUT")
        }
        if let text = value("usage.enabled", false), try !Self.bool(text, setting: "MERIDIAN_USAGE_ENABLED") {
            usageTelemetry = false
        }
        if rateLimitStore == .redis, redisURL == nil {
            throw GatewayConfigurationError(
                description: "MERIDIAN_RATELIMIT_STORE=redis needs MERIDIAN_REDIS_URL (redis://host:port)")
        }
    }

    static func bool(_ text: String, setting: String) throws -> Bool {
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw GatewayConfigurationError(description: "invalid \(setting) '\(text)': use true or false")
        }
    }

    static func duration(_ text: String, setting: String) throws -> Duration {
        guard let duration = RateLimitRules.parseDuration(text.lowercased()), duration <= .seconds(86_400) else {
            throw GatewayConfigurationError(
                description: "invalid duration '\(text)' for \(setting): use 500ms, 2s or 1m")
        }
        return duration
    }
}
