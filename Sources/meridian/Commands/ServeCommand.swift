import ArgumentParser
import Foundation
import Logging
import MeridianKit

/// `meridian serve`: the whole platform in one process. Services still talk to each other over HTTP on
/// loopback, exactly as they do when each runs alone.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run all five services in one process: the gateway on --listen, the others on loopback.",
        discussion: """
            users, orders, notifications and analytics listen on 127.0.0.1 at --internal-port-base and the three \
            ports after it. Each keeps its SQLite file in --data-dir unless --database-url names a PostgreSQL \
            database, which they then share, each in its own schema. SIGTERM or SIGINT shuts down gracefully.
            """)

    @Option(help: "The gateway's public address, host:port (MERIDIAN_LISTEN; default 127.0.0.1:8080).")
    var listen: String?

    @Option(help: "First of the four loopback ports of the services (MERIDIAN_INTERNAL_PORT_BASE; default 8081).")
    var internalPortBase: String?

    @Option(help: "Directory of the SQLite files, one per service (MERIDIAN_DATA_DIR; default ./data).")
    var dataDir: String?

    @Option(
        name: .customLong("database-url"),
        help: "A postgres:// URL every service uses, each in its own schema (MERIDIAN_DATABASE_URL).")
    var databaseURL: String?

    @OptionGroup var timeouts: TimeoutOptions
    @OptionGroup var issuer: IssuerOption
    @OptionGroup var registration: SelfRegistrationOption
    @OptionGroup var tls: TLSOptions
    @OptionGroup var masterKey: MasterKeyOption
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let own: [String: String?] = [
            "listen": listen, "internal.port.base": internalPortBase, "data.dir": dataDir, "database.url": databaseURL,
        ]
        let settings = try await Settings.load(
            flags: flags(own, timeouts.flags, issuer.flags, registration.flags, tls.flags, masterKey.flags, common.flags))
        // Before any service exists: each keeps the logger it is built with.
        JSONLogHandler.bootstrap(level: try settings.logLevel())
        let logger = Logger(label: "meridian")
        let tls = try PlatformTLS.forServe(settings, logger: logger)
        let units = try ServeCommand.plan(settings, tls: tls)
        if let users = units.first(where: { $0.name == .users }) {
            try await AdminAccount.ensure(users: users.settings, configuration: settings)
        }
        try await Platform.run(units, publicService: .gateway, tls: tls, logger: logger)
    }

    /// Every service's settings: internal ports from the base, one database each, everyone's URL known to all,
    /// and one issuer for all, the gateway's public URL unless configured.
    static func plan(_ settings: Settings, tls: PlatformTLS? = nil) throws -> [ServiceUnit] {
        let gatewayListen = try settings.listen(
            default: ListenAddress(host: "127.0.0.1", port: ServiceName.gateway.defaultPort))
        let issuer = try settings.issuer(default: Settings.issuer(servingAt: gatewayListen))
        let selfRegistration = try settings.selfRegistration()
        let baseText = settings.string("internal.port.base") ?? String(ServiceName.users.defaultPort)
        guard let base = Int(baseText), (1...(65535 - 3)).contains(base) else {
            throw ConfigurationError(
                description:
                    "invalid internal port base '\(baseText)': expected a port from 1 to 65532 (--internal-port-base)")
        }
        let shared = settings.string("database.url", secret: true)
        if let shared {
            guard shared.hasPrefix("postgres://") || shared.hasPrefix("postgresql://") else {
                throw ConfigurationError(
                    description: "serve shares --database-url between services, so it must be a postgres:// URL; "
                        + "omit it for one SQLite file per service in --data-dir")
            }
            guard DatabaseLocation.schema(in: shared) == nil else {
                throw ConfigurationError(
                    description: "serve gives each service its own schema: remove ?schema= from --database-url")
            }
        }
        var addresses: [ServiceName: ListenAddress] = [:]
        var urls: [String: String] = [:]
        for (offset, service) in ServiceName.backends.enumerated() {
            let address = ListenAddress(host: "127.0.0.1", port: base + offset)
            if address.port == gatewayListen.port,
                ["127.0.0.1", "0.0.0.0", "localhost", "::"].contains(gatewayListen.host)
            {
                throw ConfigurationError(
                    description: "the gateway's --listen port \(gatewayListen.port) collides with the "
                        + "\(service.rawValue) service's internal port; change --listen or --internal-port-base")
            }
            addresses[service] = address
            urls[service.rawValue] = "\(tls == nil ? "http" : "https")://\(address)"
        }
        // The gateway first: it opens no database, so a bad upstream setting fails before any file is open.
        var gateway = ServiceSettings(
            name: ServiceName.gateway.rawValue, listen: gatewayListen, databaseURL: "", serviceURLs: urls,
            issuer: issuer)
        // One client for all: the services call each other (events, usage records) with its tokens.
        let serviceClient = try ServiceClientSecret.forServe(settings)
        // One master key for all; on a laptop without one, a development key generated into the data directory.
        let masterKey = try settings.masterKey(generateInDataDirectory: true)
        let auditCheckpoints = try settings.auditCheckpoints()
        gateway.serviceClient = serviceClient
        let gatewayUnit = try ServiceUnit.make(
            .gateway, settings: gateway, gatewayOptions: settings.gatewayOptions(), tls: tls)
        var units: [ServiceUnit] = []
        for service in ServiceName.backends {
            var settings = ServiceSettings(
                name: service.rawValue, listen: addresses[service]!,
                databaseURL: shared ?? settings.databaseURL(for: service), serviceURLs: urls, issuer: issuer)
            settings.serviceClient = serviceClient
            settings.masterKey = masterKey
            settings.auditCheckpoints = auditCheckpoints
            units.append(
                try ServiceUnit.make(service, settings: settings, selfRegistration: selfRegistration, tls: tls))
        }
        return units + [gatewayUnit]
    }
}
