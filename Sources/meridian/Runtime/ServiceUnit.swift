import Analytics
import Gateway
import Hummingbird
import Logging
import MeridianKit
import Notifications
import Orders
import ServiceLifecycle
import Users

/// One service as the CLI handles it, whatever its module: an application to run and, for the services that
/// keep data, the database and migrations.
struct ServiceUnit: Sendable {
    let name: ServiceName
    let settings: ServiceSettings
    let makeApplication: @Sendable (_ onServerRunning: @escaping @Sendable (Int) async -> Void) -> any Service
    let database: (any Database)?
    let migrate: @Sendable () async throws -> Void

    /// Builds the service from its settings (the gateway also takes its upstream options, users whether
    /// anyone may register), serving HTTPS with `tls`.
    static func make(
        _ name: ServiceName, settings: ServiceSettings, gatewayOptions: GatewayOptions = GatewayOptions(),
        selfRegistration: Bool = false, tls: PlatformTLS? = nil
    ) throws -> ServiceUnit {
        let logger = Logger(label: name.rawValue)
        var settings = settings
        settings.tls = tls?.certificate
        switch name {
        case .users:
            let service = try UsersService(
                settings: settings, logger: logger, issuer: settings.issuer, selfRegistration: selfRegistration)
            return ServiceUnit(
                name: name, settings: settings, makeApplication: { service.makeApplication(onServerRunning: $0) },
                database: service.database, migrate: { _ = try await service.migrate() })
        case .orders:
            let service = try OrdersService(settings: settings, logger: logger)
            return ServiceUnit(
                name: name, settings: settings, makeApplication: { service.makeApplication(onServerRunning: $0) },
                database: service.database, migrate: { _ = try await service.migrate() })
        case .notifications:
            let service = try NotificationsService(settings: settings, logger: logger)
            return ServiceUnit(
                name: name, settings: settings, makeApplication: { service.makeApplication(onServerRunning: $0) },
                database: service.database, migrate: { _ = try await service.migrate() })
        case .analytics:
            let service = try AnalyticsService(settings: settings, logger: logger)
            return ServiceUnit(
                name: name, settings: settings, makeApplication: { service.makeApplication(onServerRunning: $0) },
                database: service.database, migrate: { _ = try await service.migrate() })
        case .gateway:
            let service = try GatewayService(settings: settings, logger: logger, options: gatewayOptions)
            return ServiceUnit(
                name: name, settings: settings, makeApplication: { service.makeApplication(onServerRunning: $0) },
                database: nil, migrate: {})
        }
    }
}
