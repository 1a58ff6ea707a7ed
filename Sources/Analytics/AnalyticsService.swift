import Hummingbird
import Logging
import MeridianKit

/// The analytics service: usage telemetry and product events in (the API, Segment's tracking API, the gateway's
/// usage records, other services' domain events), rollups updated at ingestion, queries out.
public struct AnalyticsService: Sendable {
    public static let name = "analytics"

    let core: ServiceCore
    let configuration: AnalyticsConfiguration
    let ingestor: EventIngestor
    let eventQueries: EventQueries
    let inbox: Inbox

    public var settings: ServiceSettings { core.settings }
    /// The service's own database; exposed so that tests and admin commands can reach it.
    public var database: any Database { core.database }
    public var metrics: ServiceMetrics { core.metrics }
    public var readiness: Readiness { core.readiness }
    var verifier: any AccessTokenVerifier { core.verifier }
    var cipher: FieldCipher { core.cipher }
    /// The shared, hash-chained audit log of the kernel (`ServiceCore`), with the configured checkpoint policy.
    var audit: AuditLog { core.audit }

    /// Opens the database (nothing is read from it until the application runs). Without a `verifier`, access
    /// tokens are verified against the JWKS of the users service at `settings.url(of: "users")`.
    public init(
        settings: ServiceSettings, logger: Logger, verifier: (any AccessTokenVerifier)? = nil,
        configuration: AnalyticsConfiguration = .fromEnvironment()
    ) throws {
        core = try ServiceCore(
            name: AnalyticsService.name, settings: settings, logger: logger, accessTable: AnalyticsAccessTable.rules,
            migrations: AnalyticsMigrations.all, verifier: verifier, encryptedColumns: AnalyticsEncryptedColumns.all)
        self.configuration = configuration
        let sealer = PropertySealer(cipher: core.cipher)
        ingestor = EventIngestor(database: core.database, sealer: sealer)
        eventQueries = EventQueries(database: core.database, sealer: sealer)
        inbox = Inbox(database: core.database, logger: logger)
    }

    public func makeRouter() -> Router<MeridianRequestContext> {
        let router = core.makeRouter()
        let ingestion = IngestionMetrics(metrics: core.metrics)
        let batches = BatchIngestion(ingestor: ingestor, metrics: ingestion)
        let writeKeys = WriteKeyStore(database: database)
        let rollups = RollupQueries(database: database)
        EventRoutes(batches: batches, configuration: configuration).register(on: router)
        SegmentRoutes(batches: batches, writeKeys: writeKeys, configuration: configuration).register(on: router)
        UsageIngestRoutes(ingestor: ingestor, metrics: ingestion).register(on: router)
        DenialIngestRoutes(
            denials: AuditDenials(log: audit, database: database, logger: core.logger), database: database,
            reporter: core.settings.serviceClient?.clientID
        ).register(on: router)
        MetricsRoutes(rollups: rollups, configuration: configuration).register(on: router)
        UsageQueryRoutes(rollups: rollups).register(on: router)
        FunnelRoutes(events: eventQueries).register(on: router)
        UserEventRoutes(database: database, events: eventQueries, audit: audit, configuration: configuration)
            .register(on: router)
        WriteKeyRoutes(database: database, store: writeKeys, audit: audit).register(on: router)
        let domainEvents = DomainEvents(ingestor: ingestor)
        EventReceiver.mount(on: router, inbox: inbox) { envelope, sql in try await domainEvents.apply(envelope, on: sql) }
        return router
    }

    /// The background work beside the HTTP server: pruning raw events past retention.
    var retentionPruner: RetentionPruner {
        RetentionPruner(
            events: eventQueries, retentionDays: configuration.retentionDays, interval: configuration.pruneInterval,
            logger: core.logger)
    }

    /// The HTTP server with the database and, before it accepts traffic, the migrations.
    public func makeApplication(
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        core.makeApplication(router: makeRouter(), services: [retentionPruner], onServerRunning: onServerRunning)
    }

    /// Applies the pending migrations; the database service must be running (`meridian migrate` runs it).
    @discardableResult
    public func migrate() async throws -> [String] { try await core.migrate() }
}
