import Foundation

/// An account. The password hash never travels with it: only the repository and the password checks see it.
public struct User: Sendable, Equatable {
    public static let idPrefix = "usr"
    /// Every account starts as a customer; the identity issue adds the roles that grant more.
    public static let defaultRoles = ["customer"]

    public let id: String
    /// The address as the user typed it; uniqueness is decided on `EmailAddress.normalized`.
    public var email: String
    public var name: String
    public var roles: [String]
    /// Starts at 1 and grows by one with every update; clients see it as the ETag.
    public var version: Int64
    public let createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, email: String, name: String, roles: [String], version: Int64, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.email = email
        self.name = name
        self.roles = roles
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What a PATCH changes; `nil` leaves a field as it is. The password arrives here already hashed.
public struct UserChanges: Sendable {
    public var email: EmailAddress?
    public var name: String?
    public var passwordHash: String?

    public init(email: EmailAddress? = nil, name: String? = nil, passwordHash: String? = nil) {
        self.email = email
        self.name = name
        self.passwordHash = passwordHash
    }

    public var isEmpty: Bool { email == nil && name == nil && passwordHash == nil }
}
