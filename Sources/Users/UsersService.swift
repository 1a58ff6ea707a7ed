import Foundation
import Hummingbird
import Logging
import MeridianKit

/// The users service: accounts now; roles, permissions and the OAuth 2.0 authorization server in later issues.
public struct UsersService: Sendable {
    public static let name = "users"

    public let settings: ServiceSettings
    /// The service's own database; exposed so that tests and admin commands can reach it.
    public let database: any Database
    public let metrics: ServiceMetrics
    public let readiness: Readiness
    let logger: Logger
    let repository: SQLUserRepository
    let hasher: PasswordHasher

    /// Opens the database (nothing is read from it until the application runs). `bcryptCost` overrides
    /// `MERIDIAN_BCRYPT_COST` and the default of 12; tests pass the minimum, 4.
    public init(settings: ServiceSettings, logger: Logger, bcryptCost: Int? = nil) throws {
        let cost = try bcryptCost ?? PasswordHasher.cost(environment: ProcessInfo.processInfo.environment)
        self.settings = settings
        self.logger = logger
        self.hasher = try PasswordHasher(cost: cost)
        self.database = try openDatabase(url: settings.databaseURL, schema: UsersService.name, logger: logger)
        self.repository = SQLUserRepository(database: database)
        self.metrics = ServiceMetrics(service: UsersService.name)
        self.readiness = Readiness()
    }

    public func makeRouter() -> Router<MeridianRequestContext> {
        let router = ServiceHost.makeRouter(metrics: metrics, readiness: readiness)
        router.add(middleware: IdempotencyMiddleware(database: database))
        UsersRoutes(repository: repository, hasher: hasher).register(on: router)
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
        try await Migrator(database: database, migrations: UsersMigrations.all, logger: logger).run()
    }
}
