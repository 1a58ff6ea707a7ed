import MeridianKit

/// The rate-limit state shared by every gateway replica, in Redis: one atomic Lua script per decision, timed
/// by the Redis server's own clock (`TIME`), so replicas with drifting clocks still agree.
public struct RedisRateLimitStore: Sendable {
    public let client: RedisClient
    /// Keys are `<prefix><route class>:<caller>`.
    public let prefix: String

    public init(client: RedisClient, prefix: String = "meridian:ratelimit:") {
        self.client = client
        self.prefix = prefix
    }

    /// GCRA in Lua, the same rule as `GCRA.decide`. ARGV: emission interval and burst (microseconds, requests).
    /// Returns {admitted (1/0), tat - now, retry after} in microseconds. The key expires when its TAT passes:
    /// an expired key and a TAT in the past mean the same thing.
    static let script = RedisScript(
        """
        local emission = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
        local tat = tonumber(redis.call('GET', KEYS[1]) or now)
        if tat < now then tat = now end
        local new_tat = tat + emission
        local allow_at = new_tat - emission * burst
        if now < allow_at then
          return {0, tat - now, allow_at - now}
        end
        redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1)
        return {1, new_tat - now, 0}
        """)

    public func decide(key: String, gcra: GCRA) async throws -> GCRA.Decision {
        let reply = try await client.evaluate(
            Self.script, keys: [prefix + key],
            arguments: [.string(String(gcra.emissionInterval)), .string(String(gcra.burst))])
        guard let values = reply.array, values.count == 3, let admitted = values[0].int,
            let tatAhead = values[1].int, let retryAfter = values[2].int
        else {
            throw RedisUnavailable(reason: .protocolViolation, detail: "unexpected rate limit script reply")
        }
        // Relative to the server's now, which is all the headers need.
        let allowAt = tatAhead + (admitted == 1 ? 0 : gcra.emissionInterval) - gcra.emissionInterval * gcra.burst
        let remaining = admitted == 1 ? max(0, -allowAt / gcra.emissionInterval) : 0
        return GCRA.Decision(
            admitted: admitted == 1, tat: tatAhead, remaining: remaining, retryAfter: retryAfter,
            resetAfter: tatAhead)
    }
}
