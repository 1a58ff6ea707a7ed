import Foundation

/// When a failed delivery is tried again: exponential backoff with jitter, bounded by a number of attempts and by
/// the age of the delivery. Past either bound the delivery is dead.
public struct RetryPolicy: Sendable, Equatable {
    /// The delay after the first failed attempt; doubled after each further one.
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// No attempt starts later than this after the delivery was created.
    public var maxAge: Duration

    public init(
        baseDelay: Duration = .seconds(2), maxDelay: Duration = .seconds(600), maxAttempts: Int = 8,
        maxAge: Duration = .seconds(24 * 3600)
    ) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxAttempts = max(1, maxAttempts)
        self.maxAge = maxAge
    }

    /// The next attempt's time after `attempts` failed attempts, or nil when the delivery is to be given up.
    /// `retryAfter` (a provider's `Retry-After`) is a floor under the computed delay: the provider knows when it
    /// will accept again. `jitter` in 0...1 picks the point in the upper half of the window ("equal jitter"), so
    /// a burst of failures does not come back all at once.
    public func nextAttempt(
        after attempts: Int, createdAt: Date, now: Date, retryAfter: Duration? = nil,
        jitter: Double = Double.random(in: 0...1)
    ) -> Date? {
        guard attempts < maxAttempts else { return nil }
        let exponent = min(max(attempts - 1, 0), 30)
        let ceiling = min(baseDelay.seconds * pow(2, Double(exponent)), maxDelay.seconds)
        var delay = ceiling / 2 + ceiling / 2 * min(max(jitter, 0), 1)
        if let retryAfter { delay = max(delay, retryAfter.seconds) }
        let next = now.addingTimeInterval(delay)
        guard next <= createdAt.addingTimeInterval(maxAge.seconds) else { return nil }
        return next
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
