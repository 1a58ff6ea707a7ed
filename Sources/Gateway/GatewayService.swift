import AsyncHTTPClient
import Hummingbird
import Logging
import MeridianKit
import NIOCore
import ServiceLifecycle

/// The gateway: the platform's only public entry. It checks the bearer token of every `/api` request that is
/// not on its public list (`GatewayAccess`), routes by path prefix to the services' base URLs
/// (`ServiceSettings.serviceURLs`), streaming bodies both ways, and serves the OpenAPI document. It keeps no
/// database. In front of each upstream it applies rate limits (GCRA, in memory or in Redis), sheds load by
/// priority, breaks the circuit of a failing upstream and retries what is safe to retry; it limits request
/// sizes and slow clients, and reports usage, and the requests its token check refuses (for the audit log), to
/// analytics in the background.
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
    let gatewayMetrics: GatewayMetrics
    let rateLimiter: RateLimiter
    /// Usage records waiting for the reporter; nil when usage telemetry is off.
    let usageBuffer: UsageBuffer?
    /// The requests the token check refused, waiting to be reported to analytics' audit log.
    let deniedRequests: DeniedRequests

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
        let metrics = ServiceMetrics(service: GatewayService.name)
        let gatewayMetrics = GatewayMetrics(service: metrics, upstreams: Upstream.services)
        var upstreams: [String: Upstream] = [:]
        for service in Upstream.services {
            var upstream = try Upstream(service: service, settings: settings, options: options)
            upstream.guards = UpstreamGuards(service: service, options: options, metrics: gatewayMetrics)
            upstreams[service] = upstream
        }
        self.gatewayMetrics = gatewayMetrics
        self.rateLimiter = try GatewayService.makeRateLimiter(options: options, metrics: metrics, logger: logger)
        self.usageBuffer = options.usageTelemetry ? UsageBuffer(capacity: options.reports.bufferCapacity) : nil
        self.deniedRequests = DeniedRequests(capacity: options.reports.bufferCapacity, counters: gatewayMetrics.denials)
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
        self.metrics = metrics
        self.readiness = Readiness()
    }

    /// The in-memory limiter, or the Redis one when configured (its client connects on first use).
    static func makeRateLimiter(options: GatewayOptions, metrics: ServiceMetrics, logger: Logger) throws -> RateLimiter {
        var redis: RedisRateLimitStore?
        if options.rateLimitStore == .redis {
            guard let url = options.redisURL else {
                throw GatewayConfigurationError(
                    description: "the redis rate-limit store needs a Redis URL (MERIDIAN_REDIS_URL)")
            }
            var configuration: RedisConfiguration
            do {
                configuration = try RedisConfiguration(url: url)
            } catch {
                throw GatewayConfigurationError(description: "MERIDIAN_REDIS_URL: \(error)")
            }
            configuration.commandTimeout = options.redisTimeout
            configuration.connectTimeout = max(options.redisTimeout, .milliseconds(200))
            redis = RedisRateLimitStore(client: RedisClient(configuration: configuration))
        }
        return RateLimiter(
            memory: MemoryRateLimitStore(capacity: options.rateLimitMemoryCapacity), redis: redis,
            failureMode: options.rateLimitFailureMode, metrics: metrics, logger: logger)
    }

    /// Every route of the gateway, forwarding through `client`, which the caller owns and shuts down.
    public func makeRouter(client: HTTPClient) -> Router<MeridianRequestContext> {
        let router = GatewayRouter.make(
            metrics: metrics, gatewayMetrics: gatewayMetrics, readiness: readiness, options: options)
        if let usageBuffer {
            // Outside the token check, so refused requests are recorded too.
            router.add(middleware: UsageMiddleware(buffer: usageBuffer, metrics: gatewayMetrics))
        }
        // Before the routes it guards: Hummingbird applies router middleware only to routes added after it.
        router.add(
            middleware: AccessControlMiddleware(
                table: GatewayService.accessTable, verifier: verifier, denials: deniedRequests))
        openAPI.register(on: router)
        var proxy = ReverseProxy(client: client, maxRequestBodySize: options.maxRequestBodySize)
        proxy.maximumAttempts = max(1, options.maximumAttempts)
        let rateLimits =
            options.rateLimitingEnabled
            ? RateLimitGate(rules: options.rateLimits, limiter: rateLimiter, metrics: gatewayMetrics) : nil
        ProxyRoutes(proxy: proxy, upstreams: upstreams, rateLimits: rateLimits).register(on: router)
        AuditTrailRoute(
            services: AuditTrailRoute.auditedServices.compactMap { name in
                upstreams[name].map {
                    ServiceClient(service: name, baseURL: $0.baseURL, client: client, timeout: TimeAmount($0.timeout))
                }
            },
            rateLimits: rateLimits
        ).register(on: router)
        return router
    }

    /// The HTTP server with its own pooled client, which it shuts down after the server has drained. The
    /// gateway is ready as soon as it listens: its upstreams report their own readiness.
    public func makeApplication(
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let client = UpstreamClient.make(options: options)
        var services: [any Service] = [UpstreamClientService(client: client)]
        if let redis = rateLimiter.redis { services.append(RedisClientService(client: redis.client)) }
        if let analytics = upstreams["analytics"] {
            // Refusals are reported whether or not usage telemetry is on: they belong in the audit log.
            var reports = options.reports
            // The service client's token (analytics:write), unless a test gave its own source.
            if reports.token == nil, let provider = settings.serviceTokenProvider(logger: logger) {
                reports.token = { try await provider.token() }
            }
            let client = ServiceClient(
                service: "analytics", baseURL: analytics.baseURL, client: client,
                timeout: TimeAmount(reports.sendTimeout))
            if let usageBuffer {
                services.append(
                    AnalyticsReporter(
                        drain: usageBuffer.drain, options: reports, analytics: client, path: UsageRecord.path,
                        encode: { UsageBatch(records: $0).json() }, counters: gatewayMetrics.usage, logger: logger))
            }
            services.append(
                AnalyticsReporter(
                    drain: deniedRequests.drain, options: reports, analytics: client, path: DeniedRequests.path,
                    encode: DeniedRequests.json, counters: gatewayMetrics.denials, logger: logger))
        }
        if let verifier = verifier as? JWKSTokenVerifier, let users = upstreams[Upstream.identityService] {
            services.append(
                SigningKeysWarmup(
                    verifier: verifier, users: ServiceClient(service: users.service, baseURL: users.baseURL),
                    logger: logger))
        }
        return ServiceHost.makeApplication(
            router: makeRouter(client: client), listen: settings.listen, services: services, readiness: readiness,
            logger: logger, tls: settings.tls, metrics: metrics, idleTimeout: options.clientIdleTimeout, onServerRunning: onServerRunning)
    }
}
