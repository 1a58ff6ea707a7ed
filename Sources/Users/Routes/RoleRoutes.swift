import Foundation
import HTTPTypes
import Hummingbird
import MeridianKit

/// `/api/roles`: the built-in roles (read-only) and custom ones (create, replace, delete), and
/// `PUT /api/users/{id}/roles`, which assigns them.
struct RoleRoutes: Sendable {
    let roles: any RoleRepository
    let users: SQLUserRepository

    func register(on router: some RouterMethods<MeridianRequestContext>) {
        let group = router.group("api/roles")
        group.get(use: list)
        group.post(use: create)
        group.get(":name", use: show)
        group.put(":name", use: replace)
        group.delete(":name", use: delete)
        router.put("api/users/:id/roles", use: assign)
    }

    struct RoleResource: Encodable, Sendable {
        let name: String
        let permissions: [String]
        let builtIn: Bool
        let createdAt: Date
        let updatedAt: Date

        init(_ role: Role) {
            name = role.name
            permissions = role.permissions.sorted().map(\.rawValue)
            builtIn = role.builtIn
            createdAt = role.createdAt
            updatedAt = role.updatedAt
        }

        static func response(_ role: Role, status: HTTPResponse.Status = .ok) throws -> Response {
            var headers: HTTPFields = [.eTag: EntityTag.make(version: role.version)]
            if status == .created { headers[.location] = "/api/roles/\(role.name)" }
            return try Response.json(RoleResource(role), status: status, headers: headers)
        }
    }

    @Sendable func list(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        var query = QueryReader(request, known: PageRequest.parameters)
        let page = PageRequest(reading: &query)
        try query.finish()
        let roles = try await roles.list(after: page.after, limit: page.limit + 1)
        return try Response.json(page.page(roles.map(RoleResource.init), id: \.name))
    }

    @Sendable func create(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        var body = try await request.fieldReader(context: context)
        let name = body.string("name", minLength: 0, maxLength: .max)
        if let name, let problem = RoleName.problem(with: name) { body.fail("name", problem) }
        let permissions = RoleRoutes.permissions(&body)
        try body.finish()
        guard let name, let permissions else { throw Problem.validation(body.errors) }
        let now = UsersRoutes.now()
        let role = Role(name: name, permissions: permissions, builtIn: false, version: 1, createdAt: now, updatedAt: now)
        do {
            try await roles.create(role)
        } catch RoleStorageError.nameTaken {
            throw RoleProblems.nameTaken
        }
        context.logger.info("role created", metadata: ["role": .string(name)])
        return try RoleResource.response(role, status: .created)
    }

    @Sendable func show(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        guard let role = try await roles.find(name: try RoleRoutes.roleName(context)) else { throw RoleProblems.notFound }
        return try RoleResource.response(role)
    }

    /// Replaces a custom role's permissions. The name is the identity and cannot change.
    @Sendable func replace(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        let name = try RoleRoutes.roleName(context)
        var body = try await request.fieldReader(context: context)
        let permissions = RoleRoutes.permissions(&body)
        try body.finish()
        guard let permissions else { throw Problem.validation(body.errors) }
        for _ in 0..<UsersRoutes.updateAttempts {
            guard let current = try await roles.find(name: name) else { throw RoleProblems.notFound }
            if current.builtIn { throw RoleProblems.builtIn }
            try EntityTag.checkIfMatch(request, currentVersion: current.version)
            do {
                let updated = try await roles.update(
                    name: name, expectedVersion: current.version, permissions: permissions, now: UsersRoutes.now())
                context.logger.info("role updated", metadata: ["role": .string(name)])
                return try RoleResource.response(updated)
            } catch RoleStorageError.versionChanged {
                continue
            }
        }
        throw RoleProblems.busy
    }

    @Sendable func delete(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        let name = try RoleRoutes.roleName(context)
        for _ in 0..<UsersRoutes.updateAttempts {
            guard let current = try await roles.find(name: name) else { throw RoleProblems.notFound }
            if current.builtIn { throw RoleProblems.builtIn }
            try EntityTag.checkIfMatch(request, currentVersion: current.version)
            do {
                if try await roles.delete(name: name, expectedVersion: current.version) {
                    context.logger.info("role deleted", metadata: ["role": .string(name)])
                    return Response(status: .noContent)
                }
            } catch RoleStorageError.inUse {
                throw RoleProblems.inUse
            }
        }
        throw RoleProblems.busy
    }

    /// `PUT /api/users/{id}/roles` with `{"roles": [...]}`: the account's complete list of roles.
    @Sendable func assign(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        let id = try UsersRoutes.userID(context)
        var body = try await request.fieldReader(context: context)
        let names = body.strings("roles", required: true, maxCount: 50, maxLength: RoleName.lengths.upperBound)
        if let names {
            for (index, name) in names.enumerated() {
                if let problem = RoleName.problem(with: name) { body.fail("roles[\(index)]", problem) }
            }
            if Set(names).count != names.count { body.fail("roles", "must not repeat a role") }
        }
        try body.finish()
        guard let names else { throw Problem.validation(body.errors) }
        for _ in 0..<UsersRoutes.updateAttempts {
            guard let current = try await users.find(id: id) else { throw UserProblems.notFound }
            try EntityTag.checkIfMatch(request, currentVersion: current.version)
            do {
                let updated = try await users.setRoles(
                    id: id, expectedVersion: current.version, roles: names, now: UsersRoutes.now())
                context.logger.info("user roles changed", metadata: ["user_id": .string(id)])
                return try UserResource.response(updated)
            } catch UserStorageError.versionChanged {
                continue
            } catch RoleAssignmentError.unknownRoles(let unknown) {
                throw Problem.validation(
                    names.enumerated().filter { unknown.contains($0.element) }
                        .map { FieldError(field: "roles[\($0.offset)]", message: "is not a role") })
            }
        }
        throw UserProblems.busy
    }

    /// `permissions`: known permissions only, so a role cannot promise what no route checks.
    static func permissions(_ body: inout FieldReader) -> Set<Permission>? {
        guard let names = body.strings("permissions", required: true, maxCount: Permission.all.count * 2, maxLength: 100)
        else { return nil }
        var permissions = Set<Permission>()
        var failed = false
        for (index, name) in names.enumerated() {
            let permission = Permission(rawValue: name)
            if permission.isKnown {
                permissions.insert(permission)
            } else {
                body.fail("permissions[\(index)]", "is not a permission Meridian defines")
                failed = true
            }
        }
        return failed ? nil : permissions
    }

    /// The `{name}` of the path; a name that cannot be a role names no resource.
    static func roleName(_ context: MeridianRequestContext) throws -> String {
        guard let name = context.parameters.get("name"), RoleName.isValid(name) else { throw RoleProblems.notFound }
        return name
    }
}

enum RoleProblems {
    static let notFound = Problem.notFound("The role")
    static let nameTaken = Problem(
        .conflict, type: Problem.typeBase + "role-exists", title: "Role exists", detail: "A role with this name exists.")
    static let builtIn = Problem(
        .conflict, type: Problem.typeBase + "built-in-role", title: "Built-in role",
        detail: "Built-in roles cannot be changed or deleted; create a custom role instead.")
    static let inUse = Problem(
        .conflict, type: Problem.typeBase + "role-in-use", title: "Role in use",
        detail: "Accounts still hold this role; take it from them first.")
    static let busy = Problem.conflict(
        "The role kept changing while this request tried to update it; fetch it again and retry.")
}
