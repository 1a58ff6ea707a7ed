import Foundation
import NIOCore

/// How to reach and talk to one SMTP server (a submission server or a relay).
public struct SMTPConfiguration: Sendable {
    public enum Security: String, Sendable, CaseIterable {
        /// Plain connection upgraded with STARTTLS (RFC 3207), usually port 587. Refused if the server does not
        /// offer it: there is no silent fallback to plain text.
        case startTLS = "starttls"
        /// TLS from the first byte (RFC 8314), usually port 465.
        case implicitTLS = "tls"
        /// No encryption. Meant for a relay on the same host; credentials are never sent this way unless the host
        /// is loopback.
        case none
    }

    /// Which certificate authorities are trusted. Verification (chain and host name) is always on.
    public enum TrustRoots: Sendable, Equatable {
        case system
        /// The system roots plus the CAs in a PEM file (a private server's CA).
        case systemAnd(caFile: String)
    }

    /// RFC 5321 §4.5.3.2 minimums, adjustable for tests.
    public struct Timeouts: Sendable {
        public var connect: TimeAmount = .seconds(30)
        public var greeting: TimeAmount = .minutes(5)
        /// EHLO, STARTTLS, AUTH, RSET, NOOP, QUIT: the RFC gives none, the 5 minutes of MAIL is the natural bound.
        public var command: TimeAmount = .minutes(5)
        public var mail: TimeAmount = .minutes(5)
        public var recipient: TimeAmount = .minutes(5)
        public var dataInitiation: TimeAmount = .minutes(2)
        public var dataTermination: TimeAmount = .minutes(10)

        public init() {}

        /// The same bound for every stage (tests).
        public static func uniform(_ amount: TimeAmount) -> Timeouts {
            var timeouts = Timeouts()
            timeouts.connect = amount
            timeouts.greeting = amount
            timeouts.command = amount
            timeouts.mail = amount
            timeouts.recipient = amount
            timeouts.dataInitiation = amount
            timeouts.dataTermination = amount
            return timeouts
        }
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var username: String?
    public var password: String?
    /// The name we greet with in EHLO/HELO: a FQDN or an address literal (RFC 5321 §4.1.1.1).
    public var heloName: String
    public var trustRoots: TrustRoots
    public var timeouts: Timeouts
    /// Connections kept open and reused; also the bound on concurrent sessions with the server.
    public var poolSize: Int
    /// An idle connection older than this is closed instead of reused (servers drop idle clients after a while).
    public var idleTimeout: TimeAmount

    public init(
        host: String, port: Int? = nil, security: Security = .startTLS, username: String? = nil,
        password: String? = nil, heloName: String? = nil, trustRoots: TrustRoots = .system,
        timeouts: Timeouts = Timeouts(), poolSize: Int = 4, idleTimeout: TimeAmount = .seconds(60)
    ) {
        self.host = host
        self.port = port ?? SMTPConfiguration.defaultPort(for: security)
        self.security = security
        self.username = username
        self.password = password
        self.heloName = heloName ?? SMTPConfiguration.defaultHeloName()
        self.trustRoots = trustRoots
        self.timeouts = timeouts
        self.poolSize = max(1, poolSize)
        self.idleTimeout = idleTimeout
    }

    public static func defaultPort(for security: Security) -> Int {
        switch security {
        case .startTLS: 587
        case .implicitTLS: 465
        case .none: 25
        }
    }

    /// The host name when it is fully qualified, else the loopback address literal, which every server accepts.
    static func defaultHeloName() -> String {
        let name = ProcessInfo.processInfo.hostName
        let usable = name.contains(".") && !name.hasSuffix(".local")
            && name.utf8.allSatisfy { MailAddress.isLetterOrDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
        return usable ? name : "[127.0.0.1]"
    }

    /// True for `localhost`, 127.0.0.0/8 and ::1: the only hosts credentials may be sent to without TLS.
    public var isLoopback: Bool {
        let host = self.host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// The host as an IP literal (then it is verified against the certificate's IP SANs and sent without SNI).
    var hostIsIPAddress: Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    public func validated() throws -> SMTPConfiguration {
        guard !host.isEmpty else { throw SMTPError.invalidConfiguration("no host") }
        guard (1...65535).contains(port) else { throw SMTPError.invalidConfiguration("port out of range") }
        guard (username == nil) == (password == nil) else {
            throw SMTPError.invalidConfiguration("set both the user name and the password, or neither")
        }
        if security == .none, username != nil, !isLoopback { throw SMTPError.credentialsOverPlaintext }
        return self
    }
}

extension SMTPConfiguration {
    /// Reads the `MERIDIAN_SMTP_*` variables: `HOST` (required; nil when unset), `PORT`, `SECURITY`
    /// (starttls|tls|none), `USERNAME`, `PASSWORD`, `CA_FILE`, `HELO_NAME`, `POOL_SIZE`. The sender address
    /// (`MERIDIAN_SMTP_FROM`) is `SMTPConfiguration.sender(from:)`.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> SMTPConfiguration? {
        func value(_ name: String) -> String? {
            guard let raw = environment["MERIDIAN_SMTP_" + name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty
            else { return nil }
            return raw
        }
        guard let host = value("HOST") else { return nil }
        var security = Security.startTLS
        if let raw = value("SECURITY") {
            guard let parsed = Security(rawValue: raw.lowercased()) else {
                throw SMTPError.invalidConfiguration("MERIDIAN_SMTP_SECURITY must be starttls, tls or none")
            }
            security = parsed
        }
        var port: Int?
        if let raw = value("PORT") {
            guard let parsed = Int(raw) else { throw SMTPError.invalidConfiguration("MERIDIAN_SMTP_PORT is not a number") }
            port = parsed
        }
        var poolSize = 4
        if let raw = value("POOL_SIZE") {
            guard let parsed = Int(raw), parsed > 0 else {
                throw SMTPError.invalidConfiguration("MERIDIAN_SMTP_POOL_SIZE is not a positive number")
            }
            poolSize = parsed
        }
        return try SMTPConfiguration(
            host: host, port: port, security: security, username: value("USERNAME"), password: value("PASSWORD"),
            heloName: value("HELO_NAME"), trustRoots: value("CA_FILE").map { .systemAnd(caFile: $0) } ?? .system,
            poolSize: poolSize
        ).validated()
    }

    /// `MERIDIAN_SMTP_FROM` (`Name <address>` or a bare address) as the sender, nil when unset.
    public static func sender(
        from environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> MailAddress? {
        guard let raw = environment["MERIDIAN_SMTP_FROM"]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else {
            return nil
        }
        if raw.hasSuffix(">"), let open = raw.lastIndex(of: "<") {
            var name = raw[..<open].trimmingCharacters(in: .whitespaces)
            if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") { name = String(name.dropFirst().dropLast()) }
            let address = String(raw[raw.index(after: open)..<raw.index(before: raw.endIndex)])
            return try MailAddress(address, name: name.isEmpty ? nil : name)
        }
        return try MailAddress(raw)
    }
}
