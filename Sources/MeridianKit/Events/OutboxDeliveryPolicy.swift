import Foundation

/// How hard and how long a dispatcher tries: exponential backoff with full jitter between attempts, and a
/// delivery is dead (kept, listed, re-sendable) after `maxAttempts` attempts or once `maxAge` old.
public struct OutboxDeliveryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var maxAge: Duration
    /// The cap of the first retry's delay; each further attempt doubles it up to `maxDelay`.
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// How long a claim is held. Longer than `requestTimeout`, so a live dispatcher always finishes first;
    /// a crashed dispatcher's claims are taken again once it has passed.
    public var lease: Duration
    public var requestTimeout: Duration
    /// Deliveries claimed (and sent concurrently) per round.
    public var batchSize: Int
    /// How long an idle dispatcher waits before looking again.
    public var pollInterval: Duration

    public init(
        maxAttempts: Int = 15, maxAge: Duration = .seconds(72 * 3600), baseDelay: Duration = .milliseconds(500),
        maxDelay: Duration = .seconds(600), lease: Duration = .seconds(30), requestTimeout: Duration = .seconds(10),
        batchSize: Int = 32, pollInterval: Duration = .milliseconds(250)
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.maxAge = maxAge
        self.baseDelay = baseDelay
        self.maxDelay = max(baseDelay, maxDelay)
        self.requestTimeout = requestTimeout
        self.lease = max(lease, requestTimeout + .seconds(5))
        self.batchSize = max(1, batchSize)
        self.pollInterval = pollInterval
    }

    /// The upper bound of the delay after `attempts` failed attempts: `baseDelay * 2^(attempts-1)`, capped.
    public func delayCap(afterAttempts attempts: Int) -> Duration {
        let exponent = min(max(attempts - 1, 0), 40)
        let cap = Self.seconds(baseDelay) * pow(2, Double(exponent))
        return .milliseconds(Int64(min(cap, Self.seconds(maxDelay)) * 1000))
    }

    /// Full jitter (a uniform draw between zero and the cap), so retries of many failed deliveries spread out
    /// instead of arriving together.
    public func retryDelay(
        afterAttempts attempts: Int, using generator: inout some RandomNumberGenerator
    ) -> Duration {
        let cap = Self.seconds(delayCap(afterAttempts: attempts))
        return .milliseconds(Int64(Double.random(in: 0...cap, using: &generator) * 1000))
    }

    /// When to try again after `attempts` failed attempts of a delivery created at `createdAt`, or nil when
    /// the delivery is dead.
    public func nextAttempt(
        afterAttempts attempts: Int, createdAt: Date, now: Date, using generator: inout some RandomNumberGenerator
    ) -> Date? {
        guard attempts < maxAttempts else { return nil }
        let next = now.addingTimeInterval(Self.seconds(retryDelay(afterAttempts: attempts, using: &generator)))
        guard next.timeIntervalSince(createdAt) < Self.seconds(maxAge) else { return nil }
        return next
    }
}

extension OutboxDeliveryPolicy {
    /// A duration in seconds, with its fraction.
    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
