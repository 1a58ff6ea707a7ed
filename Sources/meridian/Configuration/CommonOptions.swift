import ArgumentParser

/// Options every verb takes.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "A JSON configuration file (or MERIDIAN_CONFIG_FILE).")
    var configFile: String?

    @Option(
        help: "trace, debug, info, notice, warning, error or critical (MERIDIAN_LOG_LEVEL; default info).")
    var logLevel: String?

    var flags: [String: String?] { ["config": configFile, "log.level": logLevel] }
}

/// Where a service keeps its data when no database URL is given.
struct StorageOptions: ParsableArguments {
    @Option(help: "Directory of the SQLite files, one per service (MERIDIAN_DATA_DIR; default ./data).")
    var dataDir: String?

    @Option(
        name: .customLong("database-url"),
        help: """
            A postgres:// URL (each service uses its own schema) or a SQLite file path (MERIDIAN_DATABASE_URL). \
            Default: <data-dir>/<service>.sqlite.
            """)
    var databaseURL: String?

    @OptionGroup var masterKey: MasterKeyOption

    var flags: [String: String?] {
        ["data.dir": dataDir, "database.url": databaseURL].merging(masterKey.flags) { first, _ in first }
    }
}

/// The base URLs of the services another one calls.
struct UpstreamOptions: ParsableArguments {
    @Option(
        name: .customLong("users-url"),
        help: "Base URL of the users service (MERIDIAN_USERS_URL; default https://127.0.0.1:8081).")
    var usersURL: String?
    @Option(
        name: .customLong("orders-url"),
        help: "Base URL of the orders service (MERIDIAN_ORDERS_URL; default https://127.0.0.1:8082).")
    var ordersURL: String?
    @Option(
        name: .customLong("notifications-url"),
        help: "Base URL of the notifications service (MERIDIAN_NOTIFICATIONS_URL; default https://127.0.0.1:8083).")
    var notificationsURL: String?
    @Option(
        name: .customLong("analytics-url"),
        help: "Base URL of the analytics service (MERIDIAN_ANALYTICS_URL; default https://127.0.0.1:8084).")
    var analyticsURL: String?

    var flags: [String: String?] {
        [
            "users.url": usersURL, "orders.url": ordersURL, "notifications.url": notificationsURL,
            "analytics.url": analyticsURL,
        ]
    }
}

/// How long the gateway waits for an upstream's answer.
struct TimeoutOptions: ParsableArguments {
    @Option(
        help: """
            Seconds an upstream may take to start answering before the gateway returns 504 \
            (MERIDIAN_UPSTREAM_TIMEOUT; default 30). Per upstream: MERIDIAN_USERS_TIMEOUT, MERIDIAN_ORDERS_TIMEOUT, …
            """)
    var upstreamTimeout: String?

    var flags: [String: String?] { ["upstream.timeout": upstreamTimeout] }
}

/// The token issuer every service agrees on.
struct IssuerOption: ParsableArguments {
    @Option(
        help: """
            The platform's public base URL, the issuer (iss) of every access token (MERIDIAN_ISSUER; default \
            https://localhost:8080, for serve https://<gateway listen address>). Every service must get the same one.
            """)
    var issuer: String?

    var flags: [String: String?] { ["issuer": issuer] }
}

/// Whether anyone may create an account without a token.
struct SelfRegistrationOption: ParsableArguments {
    @Flag(
        inversion: .prefixedNo,
        help: "Let callers without a token create accounts with POST /api/users (MERIDIAN_SELF_REGISTRATION; default off).")
    var selfRegistration: Bool?

    var flags: [String: String?] { ["self.registration": selfRegistration.map { $0 ? "true" : "false" }] }
}

/// The flags of several option groups as one map for `ConfigLoader`; option groups never share a key.
func flags(_ groups: [String: String?]...) -> [String: String?] {
    groups.reduce(into: [:]) { all, group in all.merge(group) { first, _ in first } }
}
