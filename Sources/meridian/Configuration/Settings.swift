import Configuration
import Foundation
import Gateway
import Logging
import MeridianKit

/// A configuration that cannot work. The message is one line naming the setting, printed before exiting 1.
struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
}

/// The services `meridian` runs, with the ports `serve` gives them by default.
enum ServiceName: String, CaseIterable, Sendable {
    case users, orders, notifications, analytics, gateway

    /// The four services behind the gateway, in the order of their internal ports.
    static let backends: [ServiceName] = [.users, .orders, .notifications, .analytics]

    var defaultPort: Int {
        switch self {
        case .gateway: 8080
        case .users: 8081
        case .orders: 8082
        case .notifications: 8083
        case .analytics: 8084
        }
    }

    var hasDatabase: Bool { self != .gateway }
}

/// The resolved configuration of one command: flags > `MERIDIAN_*` environment > JSON file > defaults.
struct Settings: Sendable {
    let reader: ConfigReader

    static func load(flags: [String: String?], defaults: [String: String] = [:]) async throws -> Settings {
        do {
            return Settings(reader: try await ConfigLoader.reader(flags: flags, defaults: defaults))
        } catch {
            let file = flags["config"].flatMap { $0 } ?? ProcessInfo.processInfo.environment["MERIDIAN_CONFIG_FILE"]
            throw ConfigurationError(
                description: "cannot read the configuration file \(file ?? ""): \(oneLine(String(describing: error)))")
        }
    }

    /// A non-empty value, or nil.
    func string(_ key: String, secret: Bool = false) -> String? {
        guard
            let value = reader.string(forKey: ConfigKey(key), isSecret: secret)?
                .trimmingCharacters(in: .whitespaces), !value.isEmpty
        else { return nil }
        return value
    }

    func listen(default fallback: ListenAddress) throws -> ListenAddress {
        guard let text = string("listen") else { return fallback }
        guard let address = ListenAddress(text) else {
            throw ConfigurationError(
                description: "invalid listen address '\(text)': expected host:port, [ipv6]:port or :port "
                    + "(--listen, MERIDIAN_LISTEN)")
        }
        return address
    }

    func logLevel() throws -> Logger.Level {
        let text = string("log.level") ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ConfigurationError(
                description: "invalid log level '\(text)': use trace, debug, info, notice, warning, error or critical")
        }
        return level
    }

    var dataDirectory: String { string("data.dir") ?? "./data" }

    /// The token issuer (`--issuer`, `MERIDIAN_ISSUER`), or `fallback`. Every service compares `iss` with this
    /// string, so it is normalised once here: an http(s) URL without query or fragment, no trailing slash.
    func issuer(default fallback: String) throws -> String {
        let text = string("issuer") ?? fallback
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil, components.user == nil
        else {
            throw ConfigurationError(
                description: "invalid issuer '\(text)': expected the public base URL, like https://api.example.com "
                    + "(--issuer, MERIDIAN_ISSUER)")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    /// The issuer `serve` defaults to: its gateway's address. A wildcard listen address names no host a client
    /// can use, so `localhost` stands in for it.
    static func issuer(servingAt address: ListenAddress) -> String {
        let wildcard = ["0.0.0.0", "::", ""].contains(address.host)
        let host = wildcard ? ListenAddress(host: "localhost", port: address.port) : address
        return "https://\(host)"
    }

    /// `--self-registration` / `MERIDIAN_SELF_REGISTRATION`: off unless set to true.
    func selfRegistration() throws -> Bool {
        guard let text = string("self.registration")?.lowercased() else { return false }
        switch text {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default:
            throw ConfigurationError(
                description: "invalid MERIDIAN_SELF_REGISTRATION '\(text)': use true or false")
        }
    }

    /// `MERIDIAN_ADMIN_PASSWORD`, exactly as given (a password is not trimmed), or nil when unset or empty.
    var adminPassword: String? {
        guard let value = reader.string(forKey: ConfigKey("admin.password"), isSecret: true), !value.isEmpty
        else { return nil }
        return value
    }

    /// The database of one service: the configured URL, or its SQLite file in the data directory.
    func databaseURL(for service: ServiceName) -> String {
        string("database.url", secret: true)
            ?? (dataDirectory as NSString).appendingPathComponent("\(service.rawValue).sqlite")
    }

    /// The configured base URL of `service`, or where `serve` would run it on loopback.
    func serviceURL(_ service: ServiceName) -> String {
        string("\(service.rawValue).url") ?? "https://127.0.0.1:\(service.defaultPort)"
    }

    /// The gateway's upstream timeouts: `upstream.timeout` for all, `<service>.timeout` for one.
    func gatewayOptions() throws -> GatewayOptions {
        var options = GatewayOptions()
        // Rate limits, Redis, shedding, client timeouts, usage telemetry: see GatewayOptions.configure.
        try options.configure { key, secret in string(key, secret: secret) }
        if let text = string("upstream.timeout") {
            options.defaultTimeout = try Settings.duration(
                text, setting: "--upstream-timeout / MERIDIAN_UPSTREAM_TIMEOUT")
        }
        for service in ServiceName.backends {
            let key = "\(service.rawValue).timeout"
            if let text = string(key) {
                options.timeouts[service.rawValue] = try Settings.duration(
                    text, setting: "MERIDIAN_\(service.rawValue.uppercased())_TIMEOUT")
            }
        }
        return options
    }

    /// Seconds, possibly fractional (`30`, `2.5`, `30s`), or milliseconds (`500ms`).
    static func duration(_ text: String, setting: String) throws -> Duration {
        let lowered = text.lowercased()
        var number = lowered
        var scale = 1.0
        if lowered.hasSuffix("ms") {
            number = String(lowered.dropLast(2))
            scale = 0.001
        } else if lowered.hasSuffix("s") {
            number = String(lowered.dropLast())
        }
        guard let value = Double(number), value.isFinite, value > 0, value * scale <= 86_400 else {
            throw ConfigurationError(
                description: "invalid duration '\(text)' for \(setting): use seconds (30, 2.5) or milliseconds (500ms)")
        }
        return .milliseconds(Int64((value * scale * 1000).rounded(.up)))
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
