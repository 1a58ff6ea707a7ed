/// The generic cell rate algorithm (GCRA): one number per key, the theoretical arrival time (TAT) of the next
/// request, and no refill timers. A request at `now` is admitted when `TAT + emission - burst × emission <= now`,
/// and then moves the TAT one emission interval further (from `max(TAT, now)`).
///
/// All times are microseconds on one clock: the gateway's monotonic clock for the in-memory store, the Redis
/// server's clock (`TIME`) for the shared one, so replicas never compare their own clocks.
public struct GCRA: Sendable, Equatable {
    /// Microseconds between two requests at the sustained rate.
    public let emissionInterval: Int64
    /// How many requests may arrive at once after a quiet period.
    public let burst: Int64

    public init(policy: RateLimitPolicy) {
        self.emissionInterval = max(1, policy.period.microseconds / Int64(policy.limit))
        self.burst = Int64(policy.burst)
    }

    /// The outcome of one request: the new TAT to store (when admitted) and what the headers report.
    public struct Decision: Sendable, Equatable {
        public var admitted: Bool
        /// The TAT to store after an admitted request; the unchanged one after a refusal.
        public var tat: Int64
        /// Requests that would be admitted right now after this one.
        public var remaining: Int64
        /// Microseconds until the next request would be admitted (0 when one would be now).
        public var retryAfter: Int64
        /// Microseconds until the key is back to its full burst.
        public var resetAfter: Int64
    }

    /// Decides one request arriving at `now` for a key whose stored TAT is `storedTAT` (nil: never seen).
    public func decide(storedTAT: Int64?, now: Int64) -> Decision {
        let tat = max(storedTAT ?? now, now)
        let newTAT = tat + emissionInterval
        let allowAt = newTAT - emissionInterval * burst
        if now < allowAt {
            return Decision(
                admitted: false, tat: tat, remaining: 0, retryAfter: allowAt - now, resetAfter: tat - now)
        }
        let remaining = (now - allowAt) / emissionInterval
        return Decision(
            admitted: true, tat: newTAT, remaining: remaining, retryAfter: 0, resetAfter: newTAT - now)
    }
}

extension Duration {
    /// Whole microseconds (rounded down).
    var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}
