import Synchronization

/// A bcrypt hash of a random password, checked when the account or client asked for does not exist, so that a
/// failed sign-in takes as long whether or not the email is registered (no account enumeration by timing).
final class DecoyPasswordHash: Sendable {
    let hasher: PasswordHasher
    private let hash = Mutex<String?>(nil)

    init(hasher: PasswordHasher) {
        self.hasher = hasher
    }

    /// Runs a verification as costly as a real one, and always fails.
    func verify(_ password: String) async throws {
        let existing = hash.withLock { $0 }
        let decoy: String
        if let existing {
            decoy = existing
        } else {
            decoy = try await hasher.hash(OpaqueToken.make())
            hash.withLock { $0 = decoy }
        }
        _ = try await hasher.verify(password, hash: decoy)
    }
}
