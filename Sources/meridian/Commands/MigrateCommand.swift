import ArgumentParser
import Logging
import MeridianKit

/// `meridian migrate`: applies pending migrations and exits (services also migrate when they start).
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the pending database migrations of one service or all four, then exit.")

    @Option(help: "users, orders, notifications or analytics (default: all four).")
    var service: String?

    @OptionGroup var storage: StorageOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let settings = try await Settings.load(flags: flags(storage.flags, common.flags))
        JSONLogHandler.bootstrap(level: try settings.logLevel())
        let services: [ServiceName]
        if let service {
            guard let name = ServiceName(rawValue: service), name.hasDatabase else {
                throw ConfigurationError(
                    description: "unknown service '\(service)': use users, orders, notifications or analytics")
            }
            services = [name]
        } else {
            services = ServiceName.backends
        }
        if services.count > 1, let url = settings.string("database.url", secret: true),
            !(url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"))
        {
            throw ConfigurationError(
                description:
                    "a SQLite --database-url names one service's file: add --service, or omit it to use --data-dir")
        }
        var urls: [String: String] = [:]
        for other in ServiceName.backends { urls[other.rawValue] = settings.serviceURL(other) }
        let logger = Logger(label: "meridian")
        let masterKey = try settings.masterKey()
        // One at a time, each database opened just before its migrations run and closed after them.
        for service in services {
            let unit = try ServiceUnit.make(
                service,
                settings: {
                    var unitSettings = ServiceSettings(
                        name: service.rawValue, listen: ListenAddress(host: "127.0.0.1", port: 0),
                        databaseURL: settings.databaseURL(for: service), serviceURLs: urls)
                    unitSettings.masterKey = masterKey
                    return unitSettings
                }())
            try await Platform.migrate(unit, logger: logger)
        }
    }
}
