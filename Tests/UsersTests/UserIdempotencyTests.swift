import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Users

@Suite struct UserIdempotencyTests {
    @Test(arguments: TestDatabase.engines)
    func sameKeyAndBodyReplaysTheFirstResponse(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            let key: HTTPFields = [.idempotencyKey: "create-ada-1"]
            let first = try await client.createUser(email: "ada@example.com", headers: key)
            #expect(first.status == .created)
            #expect(first.headers[.idempotentReplayed] == nil)

            let replay = try await client.createUser(email: "ada@example.com", headers: key)
            #expect(replay.status == .created)
            #expect(replay.headers[.idempotentReplayed] == "true")
            #expect(replay.headers[.location] == first.headers[.location])
            #expect(replay.headers[.eTag] == first.headers[.eTag])
            #expect(String(buffer: replay.body) == String(buffer: first.body))
            // A replay, not a second attempt that would have met the unique index.
            #expect(try await userCount(service) == 1)

            let different = try await client.createUser(email: "someone@example.com", headers: key)
            #expect(different.status == .unprocessableContent)
            #expect(different.headers[.contentType] == Problem.contentType)
            #expect(try await userCount(service) == 1)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aConflictIsNotKeptSoTheRetryRunsAgain(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let holder = try await client.createdUserID(email: "taken@example.com")
            let key: HTTPFields = [.idempotencyKey: "retry-me"]
            let first = try await client.createUser(email: "taken@example.com", headers: key)
            #expect(first.status == .conflict)
            // The conflict depended on another account; once it is gone, the same key creates the user.
            let deleted = try await client.execute(uri: "/api/users/\(holder)", method: .delete)
            #expect(deleted.status == .noContent)
            let retry = try await client.createUser(email: "taken@example.com", headers: key)
            #expect(retry.status == .created)
            #expect(retry.headers[.idempotentReplayed] == nil)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func createWithoutAKeyIsNotDeduplicated(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let first = try await client.createUser(email: "twice@example.com")
            #expect(first.status == .created)
            // Without a key the second create is a new request, which the unique email refuses.
            let second = try await client.createUser(email: "twice@example.com")
            #expect(second.status == .conflict)
        }
    }
}
