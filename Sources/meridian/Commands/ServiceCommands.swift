import ArgumentParser
import Logging
import MeridianKit

/// Runs one service alone (what each Kubernetes Deployment runs).
enum SingleService {
    static func run(_ service: ServiceName, flags: [String: String?]) async throws {
        let settings = try await Settings.load(flags: flags)
        JSONLogHandler.bootstrap(level: try settings.logLevel())
        let listen = try settings.listen(default: ListenAddress(host: "127.0.0.1", port: service.defaultPort))
        // Every service knows the others, users above all: it publishes the keys that tokens are checked with.
        var urls: [String: String] = [:]
        for other in ServiceName.backends where other != service { urls[other.rawValue] = settings.serviceURL(other) }
        let issuer = try settings.issuer(default: ServiceSettings.defaultIssuer)
        let logger = Logger(label: "meridian")
        let tls = try PlatformTLS.forService(settings, listen: listen, issuer: issuer, logger: logger)
        var serviceSettings = ServiceSettings(
            name: service.rawValue, listen: listen,
            databaseURL: service.hasDatabase ? settings.databaseURL(for: service) : "", serviceURLs: urls,
            issuer: issuer)
        serviceSettings.serviceClient = ServiceClientSecret.configured(settings)
        if service.hasDatabase { serviceSettings.masterKey = try settings.masterKey() }
        serviceSettings.auditCheckpoints = try settings.auditCheckpoints()
        let unit: ServiceUnit
        do {
            unit = try ServiceUnit.make(
                service, settings: serviceSettings, gatewayOptions: settings.gatewayOptions(),
                selfRegistration: settings.selfRegistration(), tls: tls)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError(
                description: "cannot start \(service.rawValue): \(Settings.oneLine(String(describing: error)))")
        }
        if service == .users {
            try await AdminAccount.ensure(users: serviceSettings, configuration: settings)
        }
        try await Platform.run([unit], publicService: service, tls: tls, logger: logger)
    }
}

struct ListenOption: ParsableArguments {
    @Option(help: "Address to listen on, host:port (MERIDIAN_LISTEN; default 127.0.0.1 and the port above).")
    var listen: String?
}

struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Run the gateway alone: the public entry, proxying to the services' URLs (default port 8080).")

    @OptionGroup var listen: ListenOption
    @OptionGroup var upstreams: UpstreamOptions
    @OptionGroup var timeouts: TimeoutOptions
    @OptionGroup var issuer: IssuerOption
    @OptionGroup var tls: TLSOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await SingleService.run(
            .gateway,
            flags: flags(
                ["listen": listen.listen], upstreams.flags, timeouts.flags, issuer.flags, tls.flags, common.flags))
    }
}

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Run the users service alone (default port 8081).")

    @OptionGroup var listen: ListenOption
    @OptionGroup var storage: StorageOptions
    @OptionGroup var issuer: IssuerOption
    @OptionGroup var registration: SelfRegistrationOption
    @OptionGroup var tls: TLSOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await SingleService.run(
            .users,
            flags: flags(
                ["listen": listen.listen], storage.flags, issuer.flags, registration.flags, tls.flags, common.flags))
    }
}

struct OrdersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orders",
        abstract: "Run the orders service alone (default port 8082); it checks users and tokens with --users-url.")

    @OptionGroup var listen: ListenOption
    @OptionGroup var storage: StorageOptions
    @OptionGroup var users: UsersURLOption
    @OptionGroup var issuer: IssuerOption
    @OptionGroup var tls: TLSOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await SingleService.run(
            .orders,
            flags: flags(["listen": listen.listen], users.flags, storage.flags, issuer.flags, tls.flags, common.flags))
    }
}

struct NotificationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifications",
        abstract: "Run the notifications service alone (default port 8083); it checks tokens with --users-url.")

    @OptionGroup var listen: ListenOption
    @OptionGroup var storage: StorageOptions
    @OptionGroup var users: UsersURLOption
    @OptionGroup var issuer: IssuerOption
    @OptionGroup var tls: TLSOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await SingleService.run(
            .notifications,
            flags: flags(["listen": listen.listen], storage.flags, users.flags, issuer.flags, tls.flags, common.flags))
    }
}

struct AnalyticsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analytics",
        abstract: "Run the analytics service alone (default port 8084); it checks tokens with --users-url.")

    @OptionGroup var listen: ListenOption
    @OptionGroup var storage: StorageOptions
    @OptionGroup var users: UsersURLOption
    @OptionGroup var issuer: IssuerOption
    @OptionGroup var tls: TLSOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await SingleService.run(
            .analytics,
            flags: flags(["listen": listen.listen], storage.flags, users.flags, issuer.flags, tls.flags, common.flags))
    }
}

/// Where the users service is: every service fetches the keys that sign access tokens from it.
struct UsersURLOption: ParsableArguments {
    @Option(
        name: .customLong("users-url"),
        help: "Base URL of the users service (MERIDIAN_USERS_URL; default https://127.0.0.1:8081).")
    var usersURL: String?

    var flags: [String: String?] { ["users.url": usersURL] }
}
