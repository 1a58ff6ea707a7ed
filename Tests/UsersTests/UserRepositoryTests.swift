import Foundation
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Users

/// The repository's guarantees, checked directly where going through HTTP would leave them to timing.
@Suite struct UserRepositoryTests {
    func newUser(_ email: String) throws -> (User, EmailAddress) {
        let address = try EmailAddress.parse(email).get()
        let now = UsersRoutes.now()
        let user = User(
            id: Identifier.make(prefix: User.idPrefix), email: address.value, name: "Test", roles: User.defaultRoles,
            version: 1, createdAt: now, updatedAt: now)
        return (user, address)
    }

    @Test(arguments: TestDatabase.engines)
    func updateIsACompareAndSetOnTheVersion(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { _, service in
            let repository = service.repository
            let (user, email) = try newUser("cas@example.com")
            try await repository.create(user, email: email, passwordHash: "x")

            // Two writers that both read version 1: the first wins, the second is told, not silently applied.
            let first = try await repository.update(
                id: user.id, expectedVersion: 1, changes: UserChanges(name: "First"), now: UsersRoutes.now())
            #expect(first.version == 2 && first.name == "First")
            await #expect(throws: UserStorageError.versionChanged) {
                try await repository.update(
                    id: user.id, expectedVersion: 1, changes: UserChanges(name: "Second"), now: UsersRoutes.now())
            }
            #expect(try await repository.find(id: user.id)?.name == "First")

            await #expect(throws: UserStorageError.versionChanged) {
                try await repository.update(
                    id: Identifier.make(prefix: "usr"), expectedVersion: 1, changes: UserChanges(name: "Nobody"),
                    now: UsersRoutes.now())
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func theUniqueIndexDecidesEmailClashes(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { _, service in
            let repository = service.repository
            let (ada, adaEmail) = try newUser("ada@example.com")
            let (other, otherEmail) = try newUser("ADA@EXAMPLE.COM")
            try await repository.create(ada, email: adaEmail, passwordHash: "x")
            // No read-then-write check in front of it: the create itself meets the index.
            await #expect(throws: UserStorageError.emailTaken) {
                try await repository.create(other, email: otherEmail, passwordHash: "x")
            }
            let (bob, bobEmail) = try newUser("bob@example.com")
            try await repository.create(bob, email: bobEmail, passwordHash: "x")
            await #expect(throws: UserStorageError.emailTaken) {
                try await repository.update(
                    id: bob.id, expectedVersion: 1, changes: UserChanges(email: otherEmail), now: UsersRoutes.now())
            }
            #expect(try await repository.find(id: bob.id)?.email == "bob@example.com")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func deleteChecksTheVersionWhenGivenOne(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { _, service in
            let repository = service.repository
            let (user, email) = try newUser("del@example.com")
            try await repository.create(user, email: email, passwordHash: "x")
            #expect(try await repository.delete(id: user.id, expectedVersion: 2) == false)
            #expect(try await repository.find(id: user.id) != nil)
            #expect(try await repository.delete(id: user.id, expectedVersion: 1) == true)
            #expect(try await repository.delete(id: user.id, expectedVersion: nil) == false)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func listPagesByIdAndFiltersByNormalisedEmail(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { _, service in
            let repository = service.repository
            var ids: [String] = []
            for index in 0..<4 {
                let (user, email) = try newUser("List\(index)@Example.com")
                try await repository.create(user, email: email, passwordHash: "x")
                ids.append(user.id)
            }
            ids.sort()
            #expect(try await repository.list(normalizedEmail: nil, after: nil, limit: 10).map(\.id) == ids)
            #expect(try await repository.list(normalizedEmail: nil, after: ids[1], limit: 10).map(\.id) == Array(ids[2...]))
            #expect(try await repository.list(normalizedEmail: nil, after: nil, limit: 2).map(\.id) == Array(ids[..<2]))
            let match = try await repository.list(normalizedEmail: "list2@example.com", after: nil, limit: 10)
            #expect(match.map(\.email) == ["List2@Example.com"])
            #expect(match.first?.roles == ["customer"])
        }
    }
}
