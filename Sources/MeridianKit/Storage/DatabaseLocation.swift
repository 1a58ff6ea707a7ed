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

    /// `postgres://user:password@host:5432/database?sslmode=prefer|require|verify-ca|verify-full|disable&sslrootcert=PATH
    /// &schema=name`, or a file path.
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
        let tls = try postgresTLS(sslmode: query["sslmode"], rootCertificate: query["sslrootcert"])
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user,
            password: components.password?.removingPercentEncoding, database: database.isEmpty ? nil : database,
            tls: tls)
        configuration.options.maximumConnections = Int(query["pool_size"] ?? "") ?? 16
        return configuration
    }

    /// TLS to PostgreSQL. Unlike libpq, the certificate chain and host name are verified in every mode that uses
    /// TLS (`require` included), against `sslrootcert` when given, else the system's roots; `verify-ca` alone
    /// skips the host name, as in libpq. TLS 1.3 only. `prefer` (the default) falls back to plain TCP only when
    /// the server offers no TLS at all.
    static func postgresTLS(sslmode: String?, rootCertificate: String?) throws -> PostgresClient.Configuration.TLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateVerification = .fullVerification
        if let rootCertificate {
            guard !rootCertificate.isEmpty else { throw InvalidURL(description: "sslrootcert is empty") }
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(rootCertificate))
            } catch {
                throw InvalidURL(description: "sslrootcert: cannot read a PEM certificate from the given file")
            }
        }
        switch sslmode ?? "prefer" {
        case "disable":
            guard rootCertificate == nil else {
                throw InvalidURL(description: "sslrootcert with sslmode=disable: choose verify-full to use it")
            }
            return .disable
        case "prefer", "allow": return .prefer(configuration)
        case "require", "verify-full": return .require(configuration)
        case "verify-ca":
            configuration.certificateVerification = .noHostnameVerification
            return .require(configuration)
        case let other:
            throw InvalidURL(
                description: "unsupported sslmode '\(other)': use disable, prefer, require, verify-ca or verify-full")
        }
    }
}
