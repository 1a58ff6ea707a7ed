import Configuration
import Foundation
import SystemPackage

/// Builds the one `ConfigReader` every command reads: command-line flags, then `MERIDIAN_*` environment
/// variables, then a JSON file (`--config` / `MERIDIAN_CONFIG_FILE`), then built-in defaults.
///
/// Keys are dotted (`database.url`); the environment variable is `MERIDIAN_` + the key upper-cased with
/// underscores (`MERIDIAN_DATABASE_URL`); the JSON file nests them (`{"database": {"url": "…"}}`).
public enum ConfigLoader {
    public static func reader(
        flags: [String: String?], defaults: [String: String] = [:],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> ConfigReader {
        var providers: [any ConfigProvider] = []
        providers.append(InMemoryProvider(name: "flags", values: values(flags.compactMapValues { $0 })))
        let env = EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "meridian")
        providers.append(env)
        let file = flags["config"].flatMap { $0 } ?? environment["MERIDIAN_CONFIG_FILE"]
        if let file {
            providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(file)))
        }
        providers.append(InMemoryProvider(name: "defaults", values: values(defaults)))
        return ConfigReader(providers: providers)
    }

    static func values(_ map: [String: String]) -> [AbsoluteConfigKey: ConfigValue] {
        var result: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in map {
            result[AbsoluteConfigKey(ConfigKey(key))] = ConfigValue(.string(value), isSecret: false)
        }
        return result
    }
}

/// What one service needs to run, resolved from configuration.
public struct ServiceSettings: Sendable {
    public var name: String
    public var listen: ListenAddress
    /// A PostgreSQL URL or a SQLite file path.
    public var databaseURL: String
    /// Base URLs of the other services, by service name.
    public var serviceURLs: [String: String]
    /// The token issuer (`iss`): the platform's public base URL, the same for every service.
    public var issuer: String
    /// The certificate the service's listener presents (TLS 1.3 only); nil serves plain HTTP, which only tests
    /// and in-process harnesses do. The CLI always sets it.
    public var tls: ServerCertificate?
    /// The master key that wraps the service's data keys (`MERIDIAN_MASTER_KEY`, `--master-key-file`, or the
    /// generated development key of `serve`). A service with a database refuses to start without one.
    public var masterKey: MasterKey?
    /// How often the audit log signs its chain head (`audit.checkpoint.records`, `audit.checkpoint.seconds`).
    public var auditCheckpoints: AuditCheckpointPolicy = .standard
    /// The client-credentials identity the service calls other services with (`MERIDIAN_SERVICE_CLIENT_ID`,
    /// `MERIDIAN_SERVICE_CLIENT_SECRET`; `serve` generates the secret). Nil: no event is delivered from it.
    public var serviceClient: ServiceClientCredentials?

    public static let defaultIssuer = "https://localhost:8080"

    public init(
        name: String, listen: ListenAddress, databaseURL: String, serviceURLs: [String: String] = [:],
        issuer: String = ServiceSettings.defaultIssuer
    ) {
        self.name = name
        self.listen = listen
        self.databaseURL = databaseURL
        self.serviceURLs = serviceURLs
        self.issuer = issuer
    }

    public struct Missing: Error, CustomStringConvertible {
        public let description: String
    }

    /// The base URL of another service, or a configuration error naming the flag and variable to set.
    public func url(of service: String) throws -> String {
        guard let url = serviceURLs[service], !url.isEmpty else {
            throw Missing(
                description:
                    "the \(service) service URL is not configured: pass --\(service)-url or set MERIDIAN_\(service.uppercased())_URL"
            )
        }
        return url
    }
}
