import MeridianKit

/// How the gateway treats its upstreams, beyond the addresses in `ServiceSettings.serviceURLs`.
public struct GatewayOptions: Sendable {
    /// How long an upstream may take to start answering (the response head) before the client gets a 504.
    public var defaultTimeout: Duration
    /// Per-upstream overrides of `defaultTimeout`, by service name.
    public var timeouts: [String: Duration]
    /// Request bodies above this many bytes are refused with 413 (counted while streaming, so a chunked body
    /// cannot slip past it).
    public var maxRequestBodySize: Int
    /// Keep-alive connections the pool keeps per upstream; requests beyond it wait for a free connection.
    public var connectionsPerUpstream: Int

    /// Rate limits per caller and route class (`RateLimitRules`), and where their state lives.
    public var rateLimits = RateLimitRules()
    /// Off only for benchmarks of the bare proxy; the limits are part of the gateway's contract.
    public var rateLimitingEnabled = true
    public var rateLimitStore: RateLimitStoreKind = .memory
    /// The Redis URL (`MERIDIAN_REDIS_URL`), required when the store is `redis`.
    public var redisURL: String?
    /// How long a rate-limit decision may wait for Redis before the failure mode applies.
    public var redisTimeout: Duration = .milliseconds(100)
    public var rateLimitFailureMode: RateLimitFailureMode = .local
    /// Keys the in-memory store holds at most.
    public var rateLimitMemoryCapacity = 100_000

    /// Requests in flight per upstream before lower-priority ones are shed (`LoadShedder`).
    public var concurrencyPerUpstream = 512
    public var breaker = CircuitBreaker.Settings()
    /// The clock of the circuit breakers' windows and open periods: tests replace it to end an open period
    /// without waiting for it (a wait that a loaded machine can stretch past the period's end, or not reach).
    var clock: @Sendable () -> ContinuousClock.Instant = { .now }
    public var retryBudget = RetryBudget.Settings()
    /// Tries of an idempotent request without a body whose upstream could not be reached (1 = no retry).
    public var maximumAttempts = 2
    /// How long the connection to an upstream may take before the attempt counts as unreachable.
    public var connectTimeout: Duration = .seconds(2)

    /// Request headers: their total size (names and values) and count; above either, 431.
    public var maxHeaderBytes = 16 * 1024
    public var maxHeaderCount = 100
    /// A connection that sends nothing for this long (also in the middle of a request head or body, which is
    /// how a slowloris client holds connections) is closed; also the keep-alive idle time.
    public var clientIdleTimeout: Duration = .seconds(30)

    /// Whether every request is reported to analytics as a usage record (`UsageMiddleware`). Refused requests
    /// are reported either way: they belong in the audit log.
    public var usageTelemetry = true
    /// How both kinds of report (usage records and refused requests) are buffered and sent to analytics.
    public var reports = ReportOptions()

    public init(
        defaultTimeout: Duration = .seconds(30),
        timeouts: [String: Duration] = [:],
        maxRequestBodySize: Int = MeridianRequestContext.maxBodySize,
        connectionsPerUpstream: Int = 64
    ) {
        self.defaultTimeout = defaultTimeout
        self.timeouts = timeouts
        self.maxRequestBodySize = maxRequestBodySize
        self.connectionsPerUpstream = connectionsPerUpstream
    }

    public func timeout(for service: String) -> Duration { timeouts[service] ?? defaultTimeout }
}
