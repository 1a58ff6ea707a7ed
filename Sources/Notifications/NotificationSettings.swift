import Crypto
import Foundation
import MeridianKit

/// The notifications service's own settings, from `MERIDIAN_*` variables: SMTP (`MERIDIAN_SMTP_HOST|PORT|
/// SECURITY|USERNAME|PASSWORD|FROM|CA_FILE`), the retry policy, the workers and VAPID.
public struct NotificationSettings: Sendable {
    /// nil: the email channel is unconfigured and email deliveries fail saying so.
    public var smtp: SMTPConfiguration?
    public var from: MailAddress?
    public var retry: RetryPolicy
    /// Deliveries attempted at once by the background worker; 0 runs no worker (tests drive the queue).
    public var concurrency: Int
    /// How long a claimed delivery belongs to its worker before another may take it over.
    public var lease: Duration
    /// Configured VAPID key (base64url of the 32-byte P-256 scalar); nil: generated and kept in the database.
    public var vapidPrivateKey: P256.Signing.PrivateKey?
    /// The VAPID `sub` claim: a `mailto:` or `https:` contact for push services.
    public var vapidSubject: String
    /// Accept `http://` push endpoints on loopback (test push services); never in production.
    public var allowLoopbackHTTPPush: Bool

    public init(
        smtp: SMTPConfiguration? = nil, from: MailAddress? = nil, retry: RetryPolicy = RetryPolicy(),
        concurrency: Int = 8, lease: Duration = .seconds(60), vapidPrivateKey: P256.Signing.PrivateKey? = nil,
        vapidSubject: String = "mailto:notifications@meridian.invalid", allowLoopbackHTTPPush: Bool = false
    ) {
        self.smtp = smtp
        self.from = from
        self.retry = retry
        self.concurrency = concurrency
        self.lease = lease
        self.vapidPrivateKey = vapidPrivateKey
        self.vapidSubject = vapidSubject
        self.allowLoopbackHTTPPush = allowLoopbackHTTPPush
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads the environment; a malformed value is an error naming the variable.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> NotificationSettings
    {
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        func integer(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let raw = value(name) else { return nil }
            guard let number = Int(raw), range.contains(number) else {
                throw Invalid(description: "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        var settings = NotificationSettings()
        settings.smtp = try SMTPConfiguration.fromEnvironment(environment)
        settings.from = try SMTPConfiguration.sender(from: environment)
        if let attempts = try integer("MERIDIAN_NOTIFICATIONS_MAX_ATTEMPTS", 1...100) { settings.retry.maxAttempts = attempts }
        if let age = try integer("MERIDIAN_NOTIFICATIONS_MAX_AGE_SECONDS", 1...(30 * 86400)) { settings.retry.maxAge = .seconds(age) }
        if let base = try integer("MERIDIAN_NOTIFICATIONS_RETRY_BASE_MS", 1...3_600_000) { settings.retry.baseDelay = .milliseconds(base) }
        if let max = try integer("MERIDIAN_NOTIFICATIONS_RETRY_MAX_SECONDS", 1...86400) { settings.retry.maxDelay = .seconds(max) }
        if let workers = try integer("MERIDIAN_NOTIFICATIONS_CONCURRENCY", 0...256) { settings.concurrency = workers }
        if let lease = try integer("MERIDIAN_NOTIFICATIONS_LEASE_SECONDS", 5...3600) { settings.lease = .seconds(lease) }
        if let key = value("MERIDIAN_VAPID_PRIVATE_KEY") {
            guard let raw = Data(base64URLEncoded: key), let parsed = try? P256.Signing.PrivateKey(rawRepresentation: raw)
            else { throw Invalid(description: "MERIDIAN_VAPID_PRIVATE_KEY must be a base64url P-256 private key (32 bytes)") }
            settings.vapidPrivateKey = parsed
        }
        if let subject = value("MERIDIAN_VAPID_SUBJECT") {
            guard subject.hasPrefix("mailto:") || subject.hasPrefix("https://") else {
                throw Invalid(description: "MERIDIAN_VAPID_SUBJECT must be a mailto: or https: URI")
            }
            settings.vapidSubject = subject
        }
        settings.allowLoopbackHTTPPush = ["1", "true", "yes"].contains(value("MERIDIAN_PUSH_ALLOW_LOOPBACK_HTTP")?.lowercased() ?? "")
        return settings
    }
}
