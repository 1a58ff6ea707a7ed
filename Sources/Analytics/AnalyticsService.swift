import Hummingbird
import Logging
import MeridianKit

/// The analytics service. For now it is the service's skeleton: its database with the shared migrations
/// and the operational routes; usage telemetry, product events, rollups and queries arrive in later issues.
public struct AnalyticsService: Sendable {
    public static let name = "analytics"

    public let settings: ServiceSettings
    /// The service's own database; exposed so that tests and admin commands can reach it.
    public let database: any Database
    public let metrics: ServiceMetrics
    public let readiness: Readiness
    let logger: Logger
    let verifier: any AccessTokenVerifier

    /// Opens the database (nothing is read from it until the application runs). Without a `verifier`, access
    /// tokens are verified against the JWKS of the users service at `settings.url(of: "users")` for
    /// `settings.issuer`, so that URL must then be configured.
    public init(settings: ServiceSettings, logger: Logger, verifier: (any AccessTokenVerifier)? = nil) throws {
        // Before the database opens, as it can fail: an open SQLite connection must be closed before release.
        self.verifier =
            try verifier
            ?? JWKSTokenVerifier(usersURL: settings.url(of: "users"), issuer: settings.issuer, logger: logger)
        self.settings = settings
        self.logger = logger
        self.database = try openDatabase(url: settings.databaseURL, schema: AnalyticsService.name, logger: logger)
        self.metrics = ServiceMetrics(service: AnalyticsService.name)
        self.readiness = Readiness()
    }

    public func makeRouter() -> Router<MeridianRequestContext> {
        let router = ServiceHost.makeRouter(metrics: metrics, readiness: readiness)
        // Before idempotency: refusals are never remembered, and keys are kept per verified subject.
        router.add(middleware: AccessControlMiddleware(table: AnalyticsAccessTable.rules, verifier: verifier))
        router.add(middleware: IdempotencyMiddleware(database: database))
        return router
    }

    /// The HTTP server with the database and, before it accepts traffic, the migrations.
    public func makeApplication(
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        ServiceHost.makeApplication(
            router: makeRouter(), listen: settings.listen, services: [database], readiness: readiness,
            logger: logger,
            prepare: {
                try await migrate()
                await prefetchSigningKeys()
            },
            onServerRunning: onServerRunning)
    }

    /// Loads the issuer's signing keys before the first request needs them, if users is up; start-up does not
    /// depend on users. An injected verifier other than the JWKS one has nothing to fetch.
    func prefetchSigningKeys() async {
        guard let jwks = verifier as? JWKSTokenVerifier, let usersURL = try? settings.url(of: "users") else { return }
        await jwks.prefetchIfIssuerReady(usersURL: usersURL)
    }

    /// Applies the pending migrations; the database service must be running (`meridian migrate` runs it).
    @discardableResult
    public func migrate() async throws -> [String] {
        try await Migrator(database: database, migrations: AnalyticsMigrations.all, logger: logger).run()
    }
}
