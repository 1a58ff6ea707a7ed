import Foundation
import MeridianKit

/// Checks credentials for the login form, with the throttles of `LoginThrottle`. Every failure looks the same
/// to the user (no hint whether the email exists), and is as slow whether or not it does.
struct SignIn: Sendable {
    let users: SQLUserRepository
    let hasher: PasswordHasher
    let decoy: DecoyPasswordHash
    let failures: LoginFailureStore
    let secrets: ServiceSecrets
    let settings: AuthorizationServerSettings

    enum Outcome: Sendable, Equatable {
        case signedIn(userID: String)
        case rejected
        /// Too many recent failures for this account or address: try again after this many seconds.
        case throttled(retryAfter: Int)
    }

    static let throttleSecret = "login-throttle"

    func attempt(email: String, password: String, sourceAddress: String?, now: Date) async throws -> Outcome {
        let normalized = EmailAddress.normalize(email)
        // Subjects are MACs, not the address or email itself: the table holds no personal data.
        let account = "account:" + (try await secrets.mac(normalized, key: SignIn.throttleSecret))
        var subjects = [account]
        if let sourceAddress { subjects.append("address:" + (try await secrets.mac(sourceAddress, key: SignIn.throttleSecret))) }

        let records = try await failures.records(subjects)
        var wait: TimeInterval = 0
        for (subject, record) in records {
            let throttle = subject == account ? settings.accountThrottle : settings.addressThrottle
            if let remaining = throttle.retryAfter(failures: record.failures, lastFailure: record.lastFailureAt, now: now) {
                wait = max(wait, remaining)
            }
        }
        if wait > 0 { return .throttled(retryAfter: Int(wait.rounded(.up))) }

        let credentials = normalized.utf8.count <= EmailAddress.lengths.upperBound
            ? try await users.credentials(normalizedEmail: normalized) : nil
        let matches: Bool
        if let credentials, password.utf8.count <= PasswordPolicy.byteLengths.upperBound {
            matches = try await hasher.verify(password, hash: credentials.passwordHash)
        } else {
            try await decoy.verify(String(password.prefix(72)))
            matches = false
        }
        guard matches, let credentials else {
            try await failures.recordFailure(
                subjects, now: now, window: max(settings.accountThrottle.window, settings.addressThrottle.window),
                userID: credentials?.id)
            return .rejected
        }
        // The account's count starts over; the address's stays, or one good account would launder the guesses
        // made at others.
        try await failures.clear(account, signedIn: credentials.id)
        return .signedIn(userID: credentials.id)
    }
}
