import Foundation
import NIOSSL
import PostgresNIO

/// Where a database lives, parsed from a database URL.
public enum DatabaseLocation: Sendable {
    case sqlite(path: String)
    case postgres(PostgresClient.Configuration)

    public struct InvalidURL: Error, CustomStringConvertible {
        public let description: String
    }

    /// `postgres://user:password@host:5432/database?sslmode=prefer|require|disable&schema=name`, or a file path.
    public init(_ url: String) throws {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            self = .postgres(try DatabaseLocation.postgresConfiguration(url))
        } else if url.hasPrefix("sqlite://") {
            self = .sqlite(path: String(url.dropFirst("sqlite://".count)))
        } else if url.contains("://") {
            throw InvalidURL(description: "unsupported database URL scheme; use postgres:// or a SQLite file path")
        } else {
            self = .sqlite(path: url)
        }
    }

    /// The schema a PostgreSQL URL names with `?schema=`, if any.
    public static func schema(in url: String) -> String? {
        URLComponents(string: url)?.queryItems?.first { $0.name == "schema" }?.value
    }

    static func postgresConfiguration(_ url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            throw InvalidURL(description: "the PostgreSQL URL has no host")
        }
        guard let user = components.user, !user.isEmpty else {
            throw InvalidURL(description: "the PostgreSQL URL has no user name")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        // Certificate verification is always on when TLS is used; sslmode only chooses whether TLS is required.
        let tls: PostgresClient.Configuration.TLS
        switch query["sslmode"] ?? "prefer" {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        case let other: throw InvalidURL(description: "unsupported sslmode '\(other)'")
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user,
            password: components.password?.removingPercentEncoding, database: database.isEmpty ? nil : database,
            tls: tls)
        configuration.options.maximumConnections = Int(query["pool_size"] ?? "") ?? 16
        return configuration
    }
}
