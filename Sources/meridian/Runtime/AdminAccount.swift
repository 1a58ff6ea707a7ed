import Logging
import MeridianKit
import Users

/// The first administrator, made before the users service starts so that a fresh platform can be signed in to
/// at once. The rule (and the log line naming the password file) belongs to `UsersService.ensureAdmin`; this
/// only runs it on the service's data, with the password from `MERIDIAN_ADMIN_PASSWORD` when set.
enum AdminAccount {
    static func ensure(users settings: ServiceSettings, configuration: Settings) async throws {
        let logger = Logger(label: UsersService.name)
        // An instance of its own: its database runs only for the bootstrap, before the service's.
        let service = try UsersService(settings: settings, logger: logger, issuer: settings.issuer)
        let dataDirectory = configuration.dataDirectory
        let password = configuration.adminPassword
        do {
            _ = try await Offline.run(on: service.database, logger: logger) {
                try await service.ensureAdmin(dataDirectory: dataDirectory, password: password)
            }
        } catch let error as UsersService.AdminBootstrapError {
            throw ConfigurationError(description: "cannot create the admin account: \(error.description)")
        }
    }
}
