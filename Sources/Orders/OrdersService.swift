import Hummingbird
import Logging
import MeridianKit

/// The orders service: orders, their payments and refunds.
///
/// Built from its settings; gives the CLI and the tests a router (every route behind the shared middleware) and
/// an application (HTTP server, database and migrations).
public struct OrdersService: Sendable {
    public static let name = "orders"

    public let settings: ServiceSettings
    /// The service's database; a `Service` run by the application.
    public let database: any Database
    let repository: SQLOrderRepository
    let paymentProvider: any PaymentProvider
    let userDirectory: any UserDirectory
    let verifier: any AccessTokenVerifier
    let logger: Logger
    let metrics: ServiceMetrics
    let readiness: Readiness

    /// Opens the database (nothing is read until the application runs). Without a `userDirectory`, users are
    /// checked with the users service at `settings.url(of: "users")`; without a `verifier`, access tokens are
    /// verified against that service's JWKS for `settings.issuer`. Either way the URL must then be configured.
    public init(
        settings: ServiceSettings,
        logger: Logger,
        paymentProvider: any PaymentProvider = TestPaymentProvider(),
        userDirectory: (any UserDirectory)? = nil,
        verifier: (any AccessTokenVerifier)? = nil
    ) throws {
        // Everything that can fail comes before the database opens: an open SQLite connection must be closed
        // before it is released.
        self.userDirectory =
            try userDirectory
            ?? HTTPUserDirectory(client: ServiceClient(service: "users", baseURL: settings.url(of: "users")))
        self.verifier =
            try verifier
            ?? JWKSTokenVerifier(usersURL: settings.url(of: "users"), issuer: settings.issuer, logger: logger)
        self.settings = settings
        self.logger = logger
        self.paymentProvider = paymentProvider
        self.database = try openDatabase(url: settings.databaseURL, schema: OrdersService.name, logger: logger)
        self.repository = SQLOrderRepository(database: database)
        self.metrics = ServiceMetrics(service: OrdersService.name)
        self.readiness = Readiness()
    }

    public func makeRouter() -> Router<MeridianRequestContext> {
        let router = ServiceHost.makeRouter(metrics: metrics, readiness: readiness)
        // Before idempotency: refusals are never remembered, and keys are kept per verified subject.
        router.add(middleware: AccessControlMiddleware(table: OrdersAccessTable.rules, verifier: verifier))
        router.add(middleware: IdempotencyMiddleware(database: database))
        router.add(middleware: OrderErrorMiddleware())
        let payments = PaymentFlow(repository: repository, provider: paymentProvider, metrics: metrics)
        OrderRoutes(repository: repository, users: userDirectory, payments: payments).register(on: router)
        PaymentRoutes(repository: repository, payments: payments).register(on: router)
        return router
    }

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

    /// Applies the service's migrations (also run at start-up by `makeApplication`).
    public func migrate() async throws {
        try await Migrator(database: database, migrations: OrdersMigrations.all, logger: logger).run()
    }
}
