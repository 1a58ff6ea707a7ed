import Foundation
import MeridianKit
import SQLKit

/// `UserRepository` on SQLKit; the same statements run on SQLite and PostgreSQL.
public struct SQLUserRepository: UserRepository {
    let database: any Database

    public init(database: any Database) {
        self.database = database
    }

    public func create(_ user: User, email: EmailAddress, passwordHash: String) async throws {
        try await mappingEmailClash {
            try await database.transaction { sql in
                try await sql.insert(into: "users")
                    .columns(
                        "id", "email", "email_lower", "name", "password_hash", "roles", "version", "created_at",
                        "updated_at"
                    )
                    .values(
                        SQLBind(user.id), SQLBind(email.value), SQLBind(email.normalized), SQLBind(user.name),
                        SQLBind(passwordHash), SQLBind(try SQLUserRepository.encodeRoles(user.roles)),
                        SQLBind(user.version), SQLBind(Timestamp.micros(user.createdAt)),
                        SQLBind(Timestamp.micros(user.updatedAt))
                    )
                    .run()
            }
        }
    }

    public func find(id: String) async throws -> User? {
        try await database.read { sql in
            try await sql.select().columns(SQLUserRepository.userColumns).from("users")
                .where("id", .equal, SQLBind(id)).first()
                .map(SQLUserRepository.user(from:))
        }
    }

    public func list(normalizedEmail: String?, after: String?, limit: Int) async throws -> [User] {
        try await database.read { sql in
            let query = sql.select().columns(SQLUserRepository.userColumns).from("users")
            if let after { query.where("id", .greaterThan, SQLBind(after)) }
            if let normalizedEmail { query.where("email_lower", .equal, SQLBind(normalizedEmail)) }
            return try await query.orderBy("id").limit(limit).all().map(SQLUserRepository.user(from:))
        }
    }

    public func update(id: String, expectedVersion: Int64, changes: UserChanges, now: Date) async throws -> User {
        try await mappingEmailClash {
            try await database.transaction { sql in
                let update = sql.update("users")
                    .set("version", to: SQLBind(expectedVersion + 1))
                    .set("updated_at", to: SQLBind(Timestamp.micros(now)))
                if let email = changes.email {
                    update.set("email", to: SQLBind(email.value)).set("email_lower", to: SQLBind(email.normalized))
                }
                if let name = changes.name { update.set("name", to: SQLBind(name)) }
                if let hash = changes.passwordHash { update.set("password_hash", to: SQLBind(hash)) }
                // The version condition makes this a compare-and-set: of two writers that read the same
                // version, exactly one matches a row.
                let row = try await update
                    .where("id", .equal, SQLBind(id))
                    .where("version", .equal, SQLBind(expectedVersion))
                    .returning(SQLUserRepository.userColumns)
                    .first()
                guard let row else { throw UserStorageError.versionChanged }
                return try SQLUserRepository.user(from: row)
            }
        }
    }

    public func delete(id: String, expectedVersion: Int64?) async throws -> Bool {
        try await database.transaction { sql in
            let delete = sql.delete(from: "users").where("id", .equal, SQLBind(id))
            if let expectedVersion { delete.where("version", .equal, SQLBind(expectedVersion)) }
            return try await delete.returning("id").first() != nil
        }
    }

    public func passwordHash(id: String) async throws -> String? {
        try await database.read { sql in
            try await sql.select().column("password_hash").from("users").where("id", .equal, SQLBind(id)).first()?
                .decode(column: "password_hash", as: String.self)
        }
    }

    /// The unique index on `email_lower` is the only unique constraint a write here can break (ids are
    /// 80 random bits per millisecond), so a violation means the address belongs to someone else.
    private func mappingEmailClash<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch where UniqueConstraintViolation.matches(error) {
            throw UserStorageError.emailTaken
        }
    }

    static let userColumns: [any SQLExpression] = [
        "id", "email", "name", "roles", "version", "created_at", "updated_at",
    ].map { SQLColumn($0) }

    static func user(from row: any SQLRow) throws -> User {
        User(
            id: try row.decode(column: "id", as: String.self),
            email: try row.decode(column: "email", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            roles: try decodeRoles(row.decode(column: "roles", as: String.self)),
            version: try row.decode(column: "version", as: Int64.self),
            createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Timestamp.date(micros: try row.decode(column: "updated_at", as: Int64.self)))
    }

    static func encodeRoles(_ roles: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(roles), as: UTF8.self)
    }

    static func decodeRoles(_ text: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(text.utf8))
    }
}
