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
