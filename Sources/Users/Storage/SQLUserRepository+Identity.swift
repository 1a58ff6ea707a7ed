import Foundation
import MeridianKit
import SQLKit

/// What the authorization server and the roles API need from accounts.
protocol UserIdentityRepository: Sendable {
    /// The id and bcrypt hash of the account with this (normalised) email, for the sign-in check.
    func credentials(normalizedEmail: String) async throws -> (id: String, passwordHash: String)?
    /// Replaces the account's roles if it is at `expectedVersion`. Throws `UserStorageError.versionChanged`, or
    /// `RoleAssignmentError.unknownRoles` naming roles that do not exist.
    func setRoles(id: String, expectedVersion: Int64, roles: [String], now: Date) async throws -> User
    /// How many accounts hold the role.
    func countHolding(role: String) async throws -> Int
}

enum RoleAssignmentError: Error, Sendable, Equatable {
    case unknownRoles([String])
}

extension SQLUserRepository: UserIdentityRepository {
    func credentials(normalizedEmail: String) async throws -> (id: String, passwordHash: String)? {
        try await database.read { sql in
            guard let row = try await sql.select().columns("id", "password_hash").from("users")
                .where("email_index", .equal, SQLBind(emailIndex(normalizedEmail))).first()
            else { return nil }
            return (try row.decode(column: "id", as: String.self), try row.decode(column: "password_hash", as: String.self))
        }
    }

    func setRoles(id: String, expectedVersion: Int64, roles: [String], now: Date) async throws -> User {
        try await database.transaction { sql in
            // Locks the named roles on PostgreSQL: a concurrent delete of one of them waits for this assignment
            // and then sees it, instead of leaving an account holding a role that no longer exists. No roles, no
            // query: `IN ()` is an SQLite extension that PostgreSQL refuses.
            let existing = roles.isEmpty ? [] : Set(
                try await sql.select().column("name").from("roles").where("name", .in, roles).for(.update).all()
                    .map { try $0.decode(column: "name", as: String.self) })
            let unknown = roles.filter { !existing.contains($0) }
            if !unknown.isEmpty { throw RoleAssignmentError.unknownRoles(unknown) }
            let row = try await sql.update("users")
                .set("roles", to: SQLBind(try SQLUserRepository.encodeRoles(roles)))
                .set("version", to: SQLBind(expectedVersion + 1))
                .set("updated_at", to: SQLBind(Timestamp.micros(now)))
                .where("id", .equal, SQLBind(id)).where("version", .equal, SQLBind(expectedVersion))
                .returning(SQLUserRepository.userColumns).first()
            guard let row else { throw UserStorageError.versionChanged }
            try await audit?.append(
                AuditEvent(
                    action: "user.role_change", resourceType: "user", resourceID: id,
                    changes: .object([
                        "roles": .array(roles.map(JSONValue.string)), "version": .integer(expectedVersion + 1),
                    ])),
                on: sql)
            return try user(from: row)
        }
    }

    func countHolding(role: String) async throws -> Int {
        try await database.read { sql in try await SQLUserRepository.countHolding(role: role, sql) }
    }

    /// Accounts whose role list names `role`. Role names are letters, digits and hyphens (`RoleName`), so the
    /// quoted name is an exact `LIKE` pattern: no wildcard can hide in it, and `"ad"` does not match `"admin"`.
    static func countHolding(role: String, _ sql: any SQLDatabase) async throws -> Int {
        precondition(RoleName.isValid(role), "role names are validated before they reach storage")
        return try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("users")
            .where("roles", .like, SQLBind("%\"\(role)\"%")).first()?
            .decode(column: "n", as: Int.self) ?? 0
    }
}
