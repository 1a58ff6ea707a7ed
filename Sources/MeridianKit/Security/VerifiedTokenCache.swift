import Crypto
import Foundation
import Synchronization

/// Tokens that already passed verification, keyed by the SHA-256 of the token, until they expire. The hot path
/// of every authenticated request is a hash, a lock and a dictionary lookup: no actor hop, no signature check.
///
/// Bounded: past `capacity` entries, expired ones go first, then the ones closest to expiry, down to three
/// quarters of the capacity, so the cost of a sweep is spread over many inserts.
public final class VerifiedTokenCache: Sendable {
    struct Entry {
        let principal: Principal
        /// The instant after which the token fails verification (its `exp` plus the leeway).
        let validUntil: Date
    }

    public let capacity: Int
    private let entries = Mutex<[SHA256Digest: Entry]>([:])

    public init(capacity: Int = 10_000) {
        precondition(capacity > 0, "a token cache needs room for at least one token")
        self.capacity = capacity
    }

    public static func key(for token: String) -> SHA256Digest {
        SHA256.hash(data: Data(token.utf8))
    }

    /// The principal of a cached token still valid at `now`.
    public func principal(for key: SHA256Digest, now: Date) -> Principal? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard now < entry.validUntil else {
                entries[key] = nil
                return nil
            }
            return entry.principal
        }
    }

    public func insert(_ principal: Principal, for key: SHA256Digest, validUntil: Date, now: Date) {
        guard now < validUntil else { return }
        entries.withLock { entries in
            if entries[key] == nil, entries.count >= capacity {
                Self.evict(from: &entries, now: now, keeping: capacity * 3 / 4)
            }
            entries[key] = Entry(principal: principal, validUntil: validUntil)
        }
    }

    private static func evict(from entries: inout [SHA256Digest: Entry], now: Date, keeping target: Int) {
        entries = entries.filter { now < $0.value.validUntil }
        guard entries.count > target else { return }
        let soonestFirst = entries.sorted { $0.value.validUntil < $1.value.validUntil }
        for (key, _) in soonestFirst.prefix(entries.count - target) { entries[key] = nil }
    }

    /// How many tokens are cached (for metrics and tests).
    public var count: Int { entries.withLock { $0.count } }

    public func removeAll() { entries.withLock { $0.removeAll() } }
}
