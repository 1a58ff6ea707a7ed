import Foundation
import MeridianKit
import SQLKit

/// `UserRepository` on SQLKit; the same statements run on SQLite and PostgreSQL. Email and name are stored as
/// `FieldCipher` ciphertext; lookups and the uniqueness of an address use the blind index of its normalised form.
public struct SQLUserRepository: UserRepository {
    let database: any Database
    let cipher: FieldCipher
    /// Where `user.created` is written, in the transaction that creates the user. The service always sets it.
    let outbox: Outbox?
    /// Where each change's audit record is appended, in the change's transaction. The service always sets it.
    let audit: AuditLog?

    public init(database: any Database, cipher: FieldCipher, outbox: Outbox? = nil, audit: AuditLog? = nil) {
        self.database = database
        self.cipher = cipher
        self.outbox = outbox
        self.audit = audit
    }

    /// The columns of `users` that hold ciphertext.
    public static let encryptedColumns: [EncryptedColumn] = [
        EncryptedColumn(table: "users", column: "email"), EncryptedColumn(table: "users", column: "name"),
    ]

    /// The blind index of a normalised (lower-cased) address.
    func emailIndex(_ normalizedEmail: String) -> String {
        cipher.blindIndex(normalizedEmail, table: "users", column: "email_index")
    }

    func sealed(_ value: String, column: String, id: String) throws -> SQLBind {
        SQLBind(try cipher.seal(value, table: "users", column: column, rowID: id))
    }

    public func create(_ user: User, email: EmailAddress, passwordHash: String) async throws {
        try await mappingEmailClash {
            try await database.transaction { sql in
                try await sql.insert(into: "users")
                    .columns(
                        "id", "email", "email_index", "name", "password_hash", "roles", "version", "created_at",
                        "updated_at"
                    )
                    .values(
                        SQLBind(user.id), try sealed(email.value, column: "email", id: user.id),
                        SQLBind(emailIndex(email.normalized)), try sealed(user.name, column: "name", id: user.id),
                        SQLBind(passwordHash), SQLBind(try SQLUserRepository.encodeRoles(user.roles)),
                        SQLBind(user.version), SQLBind(Timestamp.micros(user.createdAt)),
                        SQLBind(Timestamp.micros(user.updatedAt))
                    )
                    .run()
                if let outbox { try await UserEvents.created(user, outbox: outbox, on: sql) }
                try await audit?.append(
                    AuditEvent(
                        action: "user.create", resourceType: "user", resourceID: user.id,
                        changes: .object([
                            "email": .string(email.value), "name": .string(user.name),
                            "roles": .array(user.roles.map(JSONValue.string)),
                        ])),
                    on: sql)
            }
        }
    }

    public func find(id: String) async throws -> User? {
        try await database.read { sql in
            try await sql.select().columns(SQLUserRepository.userColumns).from("users")
                .where("id", .equal, SQLBind(id)).first()
                .map(user(from:))
        }
    }

    public func list(normalizedEmail: String?, after: String?, limit: Int) async throws -> [User] {
        try await database.read { sql in
            let query = sql.select().columns(SQLUserRepository.userColumns).from("users")
            if let after { query.where("id", .greaterThan, SQLBind(after)) }
            if let normalizedEmail { query.where("email_index", .equal, SQLBind(emailIndex(normalizedEmail))) }
            return try await query.orderBy("id").limit(limit).all().map(user(from:))
        }
    }

    public func update(id: String, expectedVersion: Int64, changes: UserChanges, now: Date) async throws -> User {
        try await mappingEmailClash {
            try await database.transaction { sql in
                let update = sql.update("users")
                    .set("version", to: SQLBind(expectedVersion + 1))
                    .set("updated_at", to: SQLBind(Timestamp.micros(now)))
                if let email = changes.email {
                    update.set("email", to: try sealed(email.value, column: "email", id: id))
                        .set("email_index", to: SQLBind(emailIndex(email.normalized)))
                }
                if let name = changes.name { update.set("name", to: try sealed(name, column: "name", id: id)) }
                if let hash = changes.passwordHash { update.set("password_hash", to: SQLBind(hash)) }
                // The version condition makes this a compare-and-set: of two writers that read the same
                // version, exactly one matches a row.
                let row = try await update
                    .where("id", .equal, SQLBind(id))
                    .where("version", .equal, SQLBind(expectedVersion))
                    .returning(SQLUserRepository.userColumns)
                    .first()
                guard let row else { throw UserStorageError.versionChanged }
                var changed: [String: JSONValue] = ["version": .integer(expectedVersion + 1)]
                if let email = changes.email { changed["email"] = .string(email.value) }
                if let name = changes.name { changed["name"] = .string(name) }
                // That the password changed, never the password or its hash.
                if changes.passwordHash != nil { changed["password"] = .string("changed") }
                try await audit?.append(
                    AuditEvent(action: "user.update", resourceType: "user", resourceID: id, changes: .object(changed)),
                    on: sql)
                return try user(from: row)
            }
        }
    }

    public func delete(id: String, expectedVersion: Int64?) async throws -> Bool {
        try await database.transaction { sql in
            let delete = sql.delete(from: "users").where("id", .equal, SQLBind(id))
            if let expectedVersion { delete.where("version", .equal, SQLBind(expectedVersion)) }
            guard try await delete.returning("id").first() != nil else { return false }
            try await audit?.append(AuditEvent(action: "user.delete", resourceType: "user", resourceID: id), on: sql)
            return true
        }
    }

    public func passwordHash(id: String) async throws -> String? {
        try await database.read { sql in
            try await sql.select().column("password_hash").from("users").where("id", .equal, SQLBind(id)).first()?
                .decode(column: "password_hash", as: String.self)
        }
    }

    /// The unique index on `email_index` is the only unique constraint a write here can break (ids are
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

    func user(from row: any SQLRow) throws -> User {
        let id = try row.decode(column: "id", as: String.self)
        return User(
            id: id,
            email: try cipher.open(row.decode(column: "email", as: Data.self), table: "users", column: "email", rowID: id),
            name: try cipher.open(row.decode(column: "name", as: Data.self), table: "users", column: "name", rowID: id),
            roles: try SQLUserRepository.decodeRoles(row.decode(column: "roles", as: String.self)),
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
