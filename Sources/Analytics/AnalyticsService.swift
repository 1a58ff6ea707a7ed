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

    /// Opens the database (nothing is read from it until the application runs).
    public init(settings: ServiceSettings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        self.database = try openDatabase(url: settings.databaseURL, schema: AnalyticsService.name, logger: logger)
        self.metrics = ServiceMetrics(service: AnalyticsService.name)
        self.readiness = Readiness()
    }

    public func makeRouter() -> Router<MeridianRequestContext> {
        let router = ServiceHost.makeRouter(metrics: metrics, readiness: readiness)
        router.add(middleware: IdempotencyMiddleware(database: database))
        return router
    }

    /// The HTTP server with the database and, before it accepts traffic, the migrations.
    public func makeApplication(
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        ServiceHost.makeApplication(
            router: makeRouter(), listen: settings.listen, services: [database], readiness: readiness,
            logger: logger, prepare: { try await migrate() }, onServerRunning: onServerRunning)
    }

    /// Applies the pending migrations; the database service must be running (`meridian migrate` runs it).
    @discardableResult
    public func migrate() async throws -> [String] {
        try await Migrator(database: database, migrations: AnalyticsMigrations.all, logger: logger).run()
    }
}
