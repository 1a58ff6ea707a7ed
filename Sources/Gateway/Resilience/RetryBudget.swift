import Synchronization

/// Limits retries to a share of the traffic, so a failing upstream is not hit with a multiple of the load
/// (the retry storm): every request deposits `ratio` of a retry, up to `maximum`; a retry spends one.
/// `minimumPerSecond` retries per second are always allowed, so a quiet gateway can still retry.
public final class RetryBudget: Sendable {
    public struct Settings: Sendable, Equatable {
        public var ratio: Double
        public var minimumPerSecond: Double
        public var maximum: Double

        public init(ratio: Double = 0.2, minimumPerSecond: Double = 3, maximum: Double = 100) {
            self.ratio = ratio
            self.minimumPerSecond = minimumPerSecond
            self.maximum = maximum
        }
    }

    struct Balance {
        var tokens: Double
        var lastRefill: ContinuousClock.Instant
    }

    public let settings: Settings
    private let balance: Mutex<Balance>

    public init(settings: Settings) {
        self.settings = settings
        self.balance = Mutex(Balance(tokens: settings.minimumPerSecond, lastRefill: .now))
    }

    /// Called once per original request.
    public func deposit() {
        guard settings.ratio > 0 else { return }
        balance.withLock { $0.tokens = min(settings.maximum, $0.tokens + settings.ratio) }
    }

    /// Takes one retry from the budget, or returns false when it is spent.
    public func withdraw(now: ContinuousClock.Instant = .now) -> Bool {
        balance.withLock { balance in
            let elapsed = now - balance.lastRefill
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            if seconds > 0 {
                balance.tokens = min(
                    max(balance.tokens, settings.minimumPerSecond),
                    balance.tokens + seconds * settings.minimumPerSecond)
                balance.lastRefill = now
            }
            guard balance.tokens >= 1 else { return false }
            balance.tokens -= 1
            return true
        }
    }
}
