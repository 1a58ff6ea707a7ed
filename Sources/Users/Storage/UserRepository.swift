import Foundation

/// Where accounts live. One SQL implementation serves both engines; the protocol lets routes be read without
/// SQL in mind.
public protocol UserRepository: Sendable {
    /// Stores a new account. Throws `UserStorageError.emailTaken` when another account has the address.
    func create(_ user: User, email: EmailAddress, passwordHash: String) async throws
    func find(id: String) async throws -> User?
    /// Up to `limit` accounts with ids after `after`, in id (creation) order; `normalizedEmail` filters exactly.
    func list(normalizedEmail: String?, after: String?, limit: Int) async throws -> [User]
    /// Applies `changes` if the account is still at `expectedVersion`, returning it at its new version.
    /// Throws `UserStorageError.versionChanged` when it is not (or no longer exists), `.emailTaken` on a clash.
    func update(id: String, expectedVersion: Int64, changes: UserChanges, now: Date) async throws -> User
    /// Deletes the account if it is at `expectedVersion` (any version when nil). False when nothing was deleted.
    func delete(id: String, expectedVersion: Int64?) async throws -> Bool
    /// The stored bcrypt hash, for the password checks of the identity routes.
    func passwordHash(id: String) async throws -> String?
}

public enum UserStorageError: Error, Sendable, Equatable {
    case emailTaken
    case versionChanged
}
