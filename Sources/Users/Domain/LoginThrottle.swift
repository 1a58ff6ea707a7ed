import Foundation

/// How failed sign-ins slow further attempts: after `freeFailures`, each attempt must wait a delay that doubles
/// with every further failure, up to `maxDelay`. An attempt inside the delay is refused (429) without checking
/// the password, so guessing costs the attacker time and the server no bcrypt. A quiet `window` resets the count.
///
/// Two throttles apply to every attempt: one per account, which stops guessing one password from many
/// addresses, and a looser one per source address, which stops trying one password on many accounts.
struct LoginThrottle: Sendable, Equatable {
    var freeFailures: Int
    var baseDelay: TimeInterval
    var maxDelay: TimeInterval
    var window: TimeInterval

    static let perAccount = LoginThrottle(freeFailures: 5, baseDelay: 1, maxDelay: 900, window: 3600)
    static let perAddress = LoginThrottle(freeFailures: 20, baseDelay: 1, maxDelay: 900, window: 3600)

    /// The wait still required after `failures` failures, the last at `lastFailure`; nil when none is.
    func retryAfter(failures: Int, lastFailure: Date, now: Date) -> TimeInterval? {
        guard now.timeIntervalSince(lastFailure) < window, failures >= freeFailures else { return nil }
        let doublings = min(failures - freeFailures, 30)
        let delay = min(baseDelay * Double(1 << doublings), maxDelay)
        let remaining = lastFailure.addingTimeInterval(delay).timeIntervalSince(now)
        return remaining > 0 ? remaining : nil
    }
}
