import Logging
import MeridianKit
import Metrics
import Synchronization

/// Where rate-limit state lives.
public enum RateLimitStoreKind: String, Sendable {
    /// In this process: right for one replica.
    case memory
    /// In Redis, shared by every replica.
    case redis
}

/// What the Redis store does when Redis cannot answer in time.
public enum RateLimitFailureMode: String, Sendable {
    /// Decide with this replica's in-memory limiter (each replica then enforces the limit on its own).
    case local
    /// Admit every request while Redis is away.
    case open
    /// Refuse every request with 503 while Redis is away.
    case closed
}

/// Decides requests against the configured store, falling back as configured when Redis fails, and counts
/// every decision and failure on the gateway's registry.
public final class RateLimiter: Sendable {
    public enum Outcome: Sendable {
        case decided(GCRA.Decision)
        /// Redis is away and the failure mode is `closed`.
        case unavailable
    }

    let memory: MemoryRateLimitStore
    let redis: RedisRateLimitStore?
    let failureMode: RateLimitFailureMode
    let logger: Logger
    /// After a Redis failure, requests skip Redis until this instant (microseconds on `memory`'s clock): a
    /// Redis that is down should cost one timeout per second, not one per request.
    private let redisRetryAt = Atomic<Int64>(0)
    private let redisBackoff: Int64 = 1_000_000
    private let metrics: ServiceMetrics

    public init(
        memory: MemoryRateLimitStore = MemoryRateLimitStore(), redis: RedisRateLimitStore?,
        failureMode: RateLimitFailureMode, metrics: ServiceMetrics, logger: Logger
    ) {
        self.memory = memory
        self.redis = redis
        self.failureMode = failureMode
        self.metrics = metrics
        self.logger = logger
    }

    public func decide(key: String, gcra: GCRA) async -> Outcome {
        guard let redis else { return .decided(memory.decide(key: key, gcra: gcra)) }
        if memory.now() >= redisRetryAt.load(ordering: .relaxed) {
            do {
                return .decided(try await redis.decide(key: key, gcra: gcra))
            } catch {
                redisRetryAt.store(memory.now() + redisBackoff, ordering: .relaxed)
                metrics.counter(Self.storeErrors, help: Self.storeErrorsHelp, labels: [("error", Self.kind(of: error))])
                    .increment()
                logger.warning(
                    "rate limit store unavailable",
                    metadata: ["error": .string(String(describing: error)), "failure_mode": .string(failureMode.rawValue)])
            }
        }
        metrics.counter(
            "gateway_ratelimit_fallbacks", help: "Rate-limit decisions made without Redis, by failure mode",
            labels: [("mode", failureMode.rawValue)]
        ).increment()
        switch failureMode {
        case .local:
            return .decided(memory.decide(key: key, gcra: gcra))
        case .open:
            return .decided(
                GCRA.Decision(
                    admitted: true, tat: 0, remaining: gcra.burst - 1, retryAfter: 0, resetAfter: 0))
        case .closed:
            return .unavailable
        }
    }

    static let storeErrors = "gateway_ratelimit_store_errors"
    static let storeErrorsHelp = "Rate-limit decisions Redis did not answer"
    static let storeErrorKinds = ["timeout", "connect", "closed", "protocol", "shutdown", "error_reply", "other"]

    static func kind(of error: any Error) -> String {
        switch error {
        case let error as RedisUnavailable:
            switch error.reason {
            case .timeout: "timeout"
            case .connect: "connect"
            case .connectionClosed: "closed"
            case .protocolViolation: "protocol"
            case .shutDown: "shutdown"
            }
        case is RedisError: "error_reply"
        default: "other"
        }
    }
}
