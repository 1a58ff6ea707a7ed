import Hummingbird
import Logging
import MeridianKit

/// The orders service: orders, their payments and refunds.
///
/// Built from its settings; gives the CLI and the tests a router (every route behind the shared middleware) and
/// an application (HTTP server, database and migrations).
public struct OrdersService: Sendable {
    public static let name = "orders"

    let core: ServiceCore
    let repository: SQLOrderRepository
    let paymentProvider: any PaymentProvider
    let userDirectory: any UserDirectory
    /// The outbox its changes write their events to, and the dispatcher that delivers them.
    let events: EventPublishing

    public var settings: ServiceSettings { core.settings }
    /// The service's database; a `Service` run by the application.
    public var database: any Database { core.database }
    var verifier: any AccessTokenVerifier { core.verifier }
    var metrics: ServiceMetrics { core.metrics }

    /// Opens the database (nothing is read until the application runs). Without a `userDirectory`, users are
    /// checked with the users service at `settings.url(of: "users")`; without a `verifier`, access tokens are
    /// verified against that service's JWKS for `settings.issuer`. Either way the URL must then be configured.
    public init(
        settings: ServiceSettings,
        logger: Logger,
        paymentProvider: any PaymentProvider = TestPaymentProvider(),
        userDirectory: (any UserDirectory)? = nil,
        verifier: (any AccessTokenVerifier)? = nil,
        eventTokens: (any ServiceTokenSource)? = nil, eventPolicy: OutboxDeliveryPolicy = OutboxDeliveryPolicy()
    ) throws {
        // Everything that can fail comes before the database opens: an open SQLite connection must be closed
        // before it is released.
        self.userDirectory =
            try userDirectory
            ?? HTTPUserDirectory(client: ServiceClient(service: "users", baseURL: settings.url(of: "users")))
        self.paymentProvider = paymentProvider
        self.core = try ServiceCore(
            name: OrdersService.name, settings: settings, logger: logger, accessTable: OrdersAccessTable.rules,
            migrations: OrdersMigrations.all + OutboxMigrations.all, verifier: verifier,
            encryptedColumns: OrdersService.encryptedColumns)
        self.events = EventPublishing(core: core, tokens: eventTokens, policy: eventPolicy)
        self.repository = SQLOrderRepository(
            database: core.database, cipher: core.cipher, events: OrderEvents(outbox: events.outbox),
            audit: OrderAudit(log: core.audit), metrics: OrderMetrics(metrics: core.metrics))
    }

    /// Every column the orders service stores ciphertext in.
    public static let encryptedColumns: [EncryptedColumn] = OrderRows.encryptedColumns + Outbox.encryptedColumns

    /// The cipher of the service's stored values.
    public var cipher: FieldCipher { core.cipher }
    /// The re-encryption job of data-key rotation.
    public var keyRotation: KeyRotation { core.keyRotation }

    public func makeRouter() -> Router<MeridianRequestContext> {
        let router = core.makeRouter()
        router.add(middleware: TraceContextMiddleware())
        router.add(middleware: OrderErrorMiddleware())
        let payments = PaymentFlow(repository: repository, provider: paymentProvider, metrics: metrics)
        OrderRoutes(repository: repository, users: userDirectory, payments: payments).register(on: router)
        PaymentRoutes(repository: repository, payments: payments).register(on: router)
        return router
    }

    public func makeApplication(
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        core.makeApplication(router: makeRouter(), services: events.services, onServerRunning: onServerRunning)
    }

    /// Applies the service's migrations (also run at start-up by `makeApplication`).
    public func migrate() async throws {
        try await core.migrate()
    }
}
