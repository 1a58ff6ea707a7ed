import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MeridianKit

/// `/api/users`: create, list, read, update and delete accounts. The route table lets callers with the `:own`
/// variant of a permission through; the handlers then confine them to their own account, and answer 404 for
/// anyone else's, so they cannot learn which ids exist.
struct UsersRoutes: Sendable {
    let repository: any UserRepository
    let hasher: PasswordHasher

    /// How often an update without a precondition re-reads and retries after losing a race, before giving up
    /// with 409; each retry means another writer succeeded, so this bounds starvation, not correctness.
    static let updateAttempts = 5

    func register(on router: some RouterMethods<MeridianRequestContext>) {
        let users = router.group("api/users")
        users.post(use: create)
        users.get(use: list)
        users.get(":id", use: show)
        users.patch(":id", use: update)
        users.delete(":id", use: delete)
    }

    @Sendable func create(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        var body = try await request.fieldReader(context: context)
        let input = try NewUserInput(reading: &body)
        let passwordHash = try await hasher.hash(input.password)
        let now = UsersRoutes.now()
        let user = User(
            id: Identifier.make(prefix: User.idPrefix, now: now), email: input.email.value, name: input.name,
            roles: User.defaultRoles, version: 1, createdAt: now, updatedAt: now)
        do {
            try await repository.create(user, email: input.email, passwordHash: passwordHash)
        } catch UserStorageError.emailTaken {
            throw UserProblems.emailTaken
        }
        context.logger.info("user created", metadata: ["user_id": .string(user.id)])
        return try UserResource.response(user, status: .created)
    }

    @Sendable func list(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        var query = QueryReader(request, known: PageRequest.parameters.union(["email"]))
        let email = query.string("email", maxLength: EmailAddress.lengths.upperBound)
        let page = PageRequest(reading: &query)
        try query.finish()
        if let owner = try context.requirePrincipal().ownership(of: .usersRead).listOwner() {
            // Confined to the caller's own account: a list of at most one, under the same filters and cursor.
            let own = try await repository.find(id: owner).map { [$0] } ?? []
            let visible = own.filter { user in
                (page.after.map { user.id > $0 } ?? true)
                    && (email.map { EmailAddress.normalize(user.email) == EmailAddress.normalize($0) } ?? true)
            }
            return try Response.json(page.page(visible.map(UserResource.init), id: \.id))
        }
        let users = try await repository.list(
            normalizedEmail: email.map(EmailAddress.normalize), after: page.after, limit: page.limit + 1)
        return try Response.json(page.page(users.map(UserResource.init), id: \.id))
    }

    @Sendable func show(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        let id = try UsersRoutes.userID(context)
        try context.requirePrincipal().ownership(of: .usersRead).authorize(owner: id, notFound: UserProblems.notFound)
        guard let user = try await repository.find(id: id) else { throw UserProblems.notFound }
        return try UserResource.response(user)
    }

    @Sendable func update(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        let id = try UsersRoutes.userID(context)
        try context.requirePrincipal().ownership(of: .usersWrite).authorize(owner: id, notFound: UserProblems.notFound)
        var body = try await request.fieldReader(context: context)
        let input = try UserPatchInput(reading: &body)
        var changes = UserChanges(email: input.email, name: input.name)
        // Hashed before the read, so the slow part does not widen the window between read and write.
        if let password = input.password { changes.passwordHash = try await hasher.hash(password) }

        for _ in 0..<UsersRoutes.updateAttempts {
            guard let current = try await repository.find(id: id) else { throw UserProblems.notFound }
            // A stale If-Match fails here, also on the retry after a concurrent writer moved the version on.
            try EntityTag.checkIfMatch(request, currentVersion: current.version)
            do {
                let updated = try await repository.update(
                    id: id, expectedVersion: current.version, changes: changes, now: UsersRoutes.now())
                context.logger.info("user updated", metadata: ["user_id": .string(id)])
                return try UserResource.response(updated)
            } catch UserStorageError.versionChanged {
                continue
            } catch UserStorageError.emailTaken {
                throw UserProblems.emailTaken
            }
        }
        throw UserProblems.busy
    }

    @Sendable func delete(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        let id = try UsersRoutes.userID(context)
        guard request.headers[.ifMatch] != nil else {
            guard try await repository.delete(id: id, expectedVersion: nil) else { throw UserProblems.notFound }
            context.logger.info("user deleted", metadata: ["user_id": .string(id)])
            return Response(status: .noContent)
        }
        for _ in 0..<UsersRoutes.updateAttempts {
            guard let current = try await repository.find(id: id) else { throw UserProblems.notFound }
            try EntityTag.checkIfMatch(request, currentVersion: current.version)
            if try await repository.delete(id: id, expectedVersion: current.version) {
                context.logger.info("user deleted", metadata: ["user_id": .string(id)])
                return Response(status: .noContent)
            }
        }
        throw UserProblems.busy
    }

    /// The `{id}` of the path. Something that cannot be a user id is simply not found: it names no resource.
    static func userID(_ context: MeridianRequestContext) throws -> String {
        guard let id = context.parameters.get("id"), Identifier.isWellFormed(id, prefix: User.idPrefix) else {
            throw UserProblems.notFound
        }
        return id
    }

    /// Now, at the precision the database keeps (microseconds), so a response and a later read agree.
    static func now() -> Date { Timestamp.date(micros: Timestamp.micros(Date())) }
}
