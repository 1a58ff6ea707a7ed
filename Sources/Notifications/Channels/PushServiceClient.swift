import AsyncHTTPClient
import NIOCore

extension WebPushSender {
    /// The HTTP client for push services. They are third parties, so it adds no trace headers: a `traceparent`
    /// would hand them an id linking each notification to Meridian's internal traces. `WebPushSender` records
    /// the call in a client span of its own instead. Certificates are verified as always; like
    /// `HTTPClient.shared`, it lives as long as the process.
    static let pushServiceClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.tracing.tracer = nil
        configuration.timeout = .init(connect: .seconds(5))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
}
