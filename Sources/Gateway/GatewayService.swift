import AsyncHTTPClient
import Hummingbird
import Logging
import MeridianKit

/// The gateway: the platform's only public entry. It routes by path prefix to the services' base URLs
/// (`ServiceSettings.serviceURLs`), streaming bodies both ways, and serves the OpenAPI document. It keeps no
/// database; the token check and rate limits arrive in later issues.
public struct GatewayService: Sendable {
    public static let name = "gateway"

    public let settings: ServiceSettings
    public let options: GatewayOptions
    public let metrics: ServiceMetrics
    public let readiness: Readiness
    let logger: Logger
    let upstreams: [String: Upstream]
    let openAPI: OpenAPIRoute

    /// Checks every upstream URL and loads the OpenAPI document; a bad setting fails here, at start-up.
    public init(settings: ServiceSettings, logger: Logger, options: GatewayOptions = .init()) throws {
        guard options.maxRequestBodySize >= 0, options.connectionsPerUpstream > 0 else {
            throw GatewayConfigurationError(
                description: "the request body limit must not be negative and the pool needs at least one connection")
        }
        var upstreams: [String: Upstream] = [:]
        for service in Upstream.services {
            upstreams[service] = try Upstream(service: service, settings: settings, options: options)
        }
        self.settings = settings
        self.options = options
        self.logger = logger
        self.upstreams = upstreams
        self.openAPI = try OpenAPIRoute()
        self.metrics = ServiceMetrics(service: GatewayService.name)
        self.readiness = Readiness()
    }

    /// Every route of the gateway, forwarding through `client`, which the caller owns and shuts down.
    public func makeRouter(client: HTTPClient) -> Router<MeridianRequestContext> {
        let router = ServiceHost.makeRouter(metrics: metrics, readiness: readiness)
        openAPI.register(on: router)
        let proxy = ReverseProxy(client: client, maxRequestBodySize: options.maxRequestBodySize)
        ProxyRoutes(proxy: proxy, upstreams: upstreams).register(on: router)
        return router
    }

    /// The HTTP server with its own pooled client, which it shuts down after the server has drained. The
    /// gateway is ready as soon as it listens: its upstreams report their own readiness.
    public func makeApplication(
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let client = UpstreamClient.make(options: options)
        return ServiceHost.makeApplication(
            router: makeRouter(client: client), listen: settings.listen,
            services: [UpstreamClientService(client: client)], readiness: readiness, logger: logger,
            onServerRunning: onServerRunning)
    }
}
