import Foundation
import MeridianKit
import SQLKit

/// Where roles live. Built-in roles are rows too (so names are unique across both kinds), but their
/// permissions come from `BuiltInRole`.
protocol RoleRepository: Sendable {
    func list(after: String?, limit: Int) async throws -> [Role]
    func find(name: String) async throws -> Role?
    /// Throws `RoleStorageError.nameTaken` when a role has the name.
    func create(_ role: Role) async throws
    /// Replaces a custom role's permissions if it is at `expectedVersion`. Throws `.versionChanged`.
    func update(name: String, expectedVersion: Int64, permissions: Set<Permission>, now: Date) async throws -> Role
    /// Deletes a custom role no user holds. Throws `.inUse` when one does; false when nothing was deleted.
    func delete(name: String, expectedVersion: Int64?) async throws -> Bool
    /// The permissions the named roles grant together; names that are not roles grant nothing.
    func permissions(of names: [String]) async throws -> Set<Permission>
}

enum RoleStorageError: Error, Sendable, Equatable {
    case nameTaken
    case versionChanged
    case inUse
}

struct SQLRoleRepository: RoleRepository {
    let database: any Database
    /// Where each change's audit record is appended, in the change's transaction. The service always sets it.
    var audit: AuditLog? = nil

    func list(after: String?, limit: Int) async throws -> [Role] {
        try await database.read { sql in
            let query = sql.select().columns(SQLRoleRepository.columns).from("roles")
            if let after { query.where("name", .greaterThan, SQLBind(after)) }
            return try await query.orderBy("name").limit(limit).all().map(SQLRoleRepository.role(from:))
        }
    }

    func find(name: String) async throws -> Role? {
        try await database.read { sql in try await SQLRoleRepository.find(name, sql) }
    }

    static func find(_ name: String, _ sql: any SQLDatabase) async throws -> Role? {
        try await sql.select().columns(columns).from("roles").where("name", .equal, SQLBind(name)).first()
            .map(role(from:))
    }

    func create(_ role: Role) async throws {
        do {
            try await database.transaction { sql in
                try await sql.insert(into: "roles")
                    .columns("name", "permissions", "built_in", "version", "created_at", "updated_at")
                    .values(
                        SQLBind(role.name), SQLBind(try SQLRoleRepository.encode(role.permissions)), SQLBind(0),
                        SQLBind(role.version), SQLBind(Timestamp.micros(role.createdAt)),
                        SQLBind(Timestamp.micros(role.updatedAt))
                    )
                    .run()
                try await audit?.append(
                    AuditEvent(
                        action: "role.create", resourceType: "role", resourceID: role.name,
                        changes: .object(["permissions": SQLRoleRepository.auditValue(role.permissions)])),
                    on: sql)
            }
        } catch where UniqueConstraintViolation.matches(error) {
            throw RoleStorageError.nameTaken
        }
    }

    func update(name: String, expectedVersion: Int64, permissions: Set<Permission>, now: Date) async throws -> Role {
        try await database.transaction { sql in
            let row = try await sql.update("roles")
                .set("permissions", to: SQLBind(try SQLRoleRepository.encode(permissions)))
                .set("version", to: SQLBind(expectedVersion + 1))
                .set("updated_at", to: SQLBind(Timestamp.micros(now)))
                .where("name", .equal, SQLBind(name)).where("version", .equal, SQLBind(expectedVersion))
                .where("built_in", .equal, SQLBind(0))
                .returning(SQLRoleRepository.columns).first()
            guard let row else { throw RoleStorageError.versionChanged }
            try await audit?.append(
                AuditEvent(
                    action: "role.update", resourceType: "role", resourceID: name,
                    changes: .object([
                        "permissions": SQLRoleRepository.auditValue(permissions), "version": .integer(expectedVersion + 1),
                    ])),
                on: sql)
            return try SQLRoleRepository.role(from: row)
        }
    }

    func delete(name: String, expectedVersion: Int64?) async throws -> Bool {
        try await database.transaction { sql in
            // Locks the role row on PostgreSQL, so an assignment racing this delete waits and then finds no role.
            guard let role = try await sql.select().columns(SQLRoleRepository.columns).from("roles")
                .where("name", .equal, SQLBind(name)).for(.update).first().map(SQLRoleRepository.role(from:)),
                !role.builtIn
            else { return false }
            if let expectedVersion, role.version != expectedVersion { return false }
            if try await SQLUserRepository.countHolding(role: name, sql) > 0 { throw RoleStorageError.inUse }
            try await sql.delete(from: "roles").where("name", .equal, SQLBind(name)).run()
            try await audit?.append(AuditEvent(action: "role.delete", resourceType: "role", resourceID: name), on: sql)
            return true
        }
    }

    static func auditValue(_ permissions: Set<Permission>) -> JSONValue {
        .array(permissions.sorted().map { .string($0.rawValue) })
    }

    func permissions(of names: [String]) async throws -> Set<Permission> {
        var granted = Set<Permission>()
        var custom: [String] = []
        for name in names {
            if let builtIn = BuiltInRole(rawValue: name) {
                granted.formUnion(builtIn.permissions)
            } else {
                custom.append(name)
            }
        }
        guard !custom.isEmpty else { return granted }
        let stored = try await database.read { sql in
            try await sql.select().columns(SQLRoleRepository.columns).from("roles").where("name", .in, custom).all()
                .map(SQLRoleRepository.role(from:))
        }
        for role in stored { granted.formUnion(role.permissions) }
        return granted
    }

    static let columns: [any SQLExpression] = [
        "name", "permissions", "built_in", "version", "created_at", "updated_at",
    ].map { SQLColumn($0) }

    static func role(from row: any SQLRow) throws -> Role {
        let name = try row.decode(column: "name", as: String.self)
        let isBuiltIn = try row.decode(column: "built_in", as: Int.self) == 1
        let permissions: Set<Permission>
        if isBuiltIn, let builtIn = BuiltInRole(rawValue: name) {
            permissions = builtIn.permissions
        } else {
            let names = try JSONText.decode(row.decode(column: "permissions", as: String.self))
            permissions = Set(names.map { Permission(rawValue: $0) })
        }
        return Role(
            name: name, permissions: permissions, builtIn: isBuiltIn,
            version: try row.decode(column: "version", as: Int64.self),
            createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Timestamp.date(micros: try row.decode(column: "updated_at", as: Int64.self)))
    }

    static func encode(_ permissions: Set<Permission>) throws -> String {
        try JSONText.encode(permissions.sorted().map(\.rawValue))
    }
}
