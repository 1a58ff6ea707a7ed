import AsyncHTTPClient
import Hummingbird
import Logging
import MeridianKit
import ServiceLifecycle

/// The gateway: the platform's only public entry. It checks the bearer token of every `/api` request that is
/// not on its public list (`GatewayAccess`), routes by path prefix to the services' base URLs
/// (`ServiceSettings.serviceURLs`), streaming bodies both ways, and serves the OpenAPI document. It keeps no
/// database; rate limits arrive in a later issue.
///
/// The token check does not replace the services' own: the `Authorization` header travels on unchanged and
/// every service verifies it again and applies its permissions.
public struct GatewayService: Sendable {
    public static let name = "gateway"

    public let settings: ServiceSettings
    public let options: GatewayOptions
    public let metrics: ServiceMetrics
    public let readiness: Readiness
    let logger: Logger
    let upstreams: [String: Upstream]
    let openAPI: OpenAPIRoute
    /// Verifies bearer tokens: by default against the users service's JWKS, fetched once and cached, with the
    /// tokens already verified cached by hash until they expire (`verifiedTokens`).
    public let verifier: any AccessTokenVerifier
    /// The verified tokens of the default verifier (unused when another verifier is given): every authenticated
    /// request looks its token up here first, so a token's signature is checked once, not per request.
    public let verifiedTokens: VerifiedTokenCache

    /// The path prefixes the gateway forwards (each also matches everything below it), for tests that tell its
    /// own routes from the services' routes it stands for.
    public static var proxiedPrefixes: [String] { Upstream.routes.map(\.prefix) }

    /// The rule of every route the gateway serves: tokens are required everywhere but on the public list.
    public static var accessTable: RouteAccessTable { GatewayAccess.table }

    /// Checks every upstream URL and loads the OpenAPI document; a bad setting fails here, at start-up.
    /// `verifier` replaces the JWKS verifier of the users service (tests of other key sources).
    public init(
        settings: ServiceSettings, logger: Logger, options: GatewayOptions = .init(),
        verifier: (any AccessTokenVerifier)? = nil
    ) throws {
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
        let verifiedTokens = VerifiedTokenCache()
        self.verifiedTokens = verifiedTokens
        if let verifier {
            self.verifier = verifier
        } else {
            let usersURL = try settings.url(of: Upstream.identityService)
            self.verifier = JWKSTokenVerifier(
                issuer: settings.issuer, cache: verifiedTokens, logger: logger,
                source: JWKSTokenVerifier.jwks(at: usersURL))
        }
        self.metrics = ServiceMetrics(service: GatewayService.name)
        self.readiness = Readiness()
    }

    /// Every route of the gateway, forwarding through `client`, which the caller owns and shuts down.
    public func makeRouter(client: HTTPClient) -> Router<MeridianRequestContext> {
        let router = ServiceHost.makeRouter(metrics: metrics, readiness: readiness)
        // Before the routes it guards: Hummingbird applies router middleware only to routes added after it.
        router.add(middleware: AccessControlMiddleware(table: GatewayService.accessTable, verifier: verifier))
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
        var services: [any Service] = [UpstreamClientService(client: client)]
        if let verifier = verifier as? JWKSTokenVerifier, let users = upstreams[Upstream.identityService] {
            services.append(
                SigningKeysWarmup(
                    verifier: verifier, users: ServiceClient(service: users.service, baseURL: users.baseURL),
                    logger: logger))
        }
        return ServiceHost.makeApplication(
            router: makeRouter(client: client), listen: settings.listen, services: services, readiness: readiness,
            logger: logger, onServerRunning: onServerRunning)
    }
}
