import Hummingbird
import Logging
import MeridianKit

/// The notifications service. For now it is the service's skeleton: its database with the shared migrations
/// and the operational routes; email, Web Push and in-app messages arrive in later issues.
public struct NotificationsService: Sendable {
    public static let name = "notifications"

    let core: ServiceCore

    public var settings: ServiceSettings { core.settings }
    /// The service's own database; exposed so that tests and admin commands can reach it.
    public var database: any Database { core.database }
    public var metrics: ServiceMetrics { core.metrics }
    public var readiness: Readiness { core.readiness }
    var verifier: any AccessTokenVerifier { core.verifier }

    /// Opens the database (nothing is read from it until the application runs). Without a `verifier`, access
    /// tokens are verified against the JWKS of the users service at `settings.url(of: "users")`.
    public init(settings: ServiceSettings, logger: Logger, verifier: (any AccessTokenVerifier)? = nil) throws {
        core = try ServiceCore(
            name: NotificationsService.name, settings: settings, logger: logger, accessTable: NotificationsAccessTable.rules,
            migrations: NotificationsMigrations.all, verifier: verifier)
    }

    public func makeRouter() -> Router<MeridianRequestContext> { core.makeRouter() }

    /// The HTTP server with the database and, before it accepts traffic, the migrations.
    public func makeApplication(
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        core.makeApplication(router: makeRouter(), onServerRunning: onServerRunning)
    }

    /// Applies the pending migrations; the database service must be running (`meridian migrate` runs it).
    @discardableResult
    public func migrate() async throws -> [String] { try await core.migrate() }
}
