import Foundation
import HTTPTypes
import HummingbirdBcrypt
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Users

@Suite struct UpdateUserTests {
    @Test(arguments: TestDatabase.engines)
    func patchWithTheCurrentETagUpdatesAndStaleOneIsRefused(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let created = try await client.createUser(email: "ada@example.com", name: "Ada")
            let id = try #require(try object(created)["id"] as? String)

            let updated = try await client.patchUser(id, ["name": "Ada Lovelace"], ifMatch: "\"v1\"")
            #expect(updated.status == .ok)
            #expect(updated.headers[.eTag] == "\"v2\"")
            let body = try object(updated)
            #expect(body["name"] as? String == "Ada Lovelace")
            #expect(body["email"] as? String == "ada@example.com")
            #expect(body["created_at"] as? String == (try object(created)["created_at"] as? String))
            let createdAt = try #require((body["created_at"] as? String).flatMap(Timestamp.parse))
            let updatedAt = try #require((body["updated_at"] as? String).flatMap(Timestamp.parse))
            #expect(updatedAt >= createdAt)

            let stale = try await client.patchUser(id, ["name": "Someone Else"], ifMatch: "\"v1\"")
            #expect(stale.status == .preconditionFailed)
            #expect(stale.headers[.eTag] == "\"v2\"")
            #expect(stale.headers[.contentType] == Problem.contentType)

            let fetched = try await client.get("/api/users/\(id)")
            #expect(try object(fetched)["name"] as? String == "Ada Lovelace")
            #expect(fetched.headers[.eTag] == "\"v2\"")

            // Without a precondition the update applies to the current version.
            let unconditional = try await client.patchUser(id, ["name": "Countess"])
            #expect(unconditional.status == .ok)
            #expect(unconditional.headers[.eTag] == "\"v3\"")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func twoPatchesWithTheSameETagCannotBothWin(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let id = try await client.createdUserID(email: "race@example.com")
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for name in ["First", "Second"] {
                    group.addTask { try await client.patchUser(id, ["name": name], ifMatch: "\"v1\"").status }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.sorted { $0.code < $1.code } == [.ok, .preconditionFailed])
            #expect(try await client.get("/api/users/\(id)").headers[.eTag] == "\"v2\"")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func concurrentUnconditionalPatchesAreAllApplied(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let id = try await client.createdUserID(email: "many@example.com")
            let writers = 5
            let tags = try await withThrowingTaskGroup(of: String?.self) { group in
                for index in 0..<writers {
                    group.addTask {
                        let response = try await client.patchUser(id, ["name": "Writer \(index)"])
                        return response.status == .ok ? response.headers[.eTag] : nil
                    }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            // Every write succeeded at its own version: none overwrote another unseen.
            #expect(Set(tags.compactMap { $0 }) == Set((2...(writers + 1)).map { "\"v\($0)\"" }))
            #expect(try await client.get("/api/users/\(id)").headers[.eTag] == "\"v\(writers + 1)\"")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func patchToAnotherUsersEmailConflicts(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            _ = try await client.createdUserID(email: "taken@example.com")
            let id = try await client.createdUserID(email: "mine@example.com")
            // Email is ciphertext at rest; its blind index (of the lower-cased address) stands for it here.
            let index = try await storedRow(service, id: id)["email_index"]
            let clash = try await client.patchUser(id, ["email": "TAKEN@example.com"])
            #expect(clash.status == .conflict)
            #expect(try object(clash)["type"] as? String == "https://meridian.dev/problems/email-taken")
            #expect(try await storedRow(service, id: id)["email_index"] == index)
            #expect(try await storedRow(service, id: id)["version"] == "1")

            // Changing only the case of one's own address is no clash.
            let recased = try await client.patchUser(id, ["email": "Mine@Example.com"])
            #expect(recased.status == .ok)
            #expect(try object(recased)["email"] as? String == "Mine@Example.com")
            #expect(try await storedRow(service, id: id)["email_index"] == index)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func patchChangesThePasswordHash(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            let id = try await client.createdUserID(email: "pw@example.com")
            let response = try await client.patchUser(id, ["password": "a brand new secret"])
            #expect(response.status == .ok)
            #expect(!String(buffer: response.body).contains("secret"))
            let hash = try #require(try await storedRow(service, id: id)["password_hash"])
            #expect(Bcrypt.verify("a brand new secret", hash: hash))
            #expect(!Bcrypt.verify("correct horse battery", hash: hash))
        }
    }

    @Test(arguments: TestDatabase.engines)
    func patchValidatesItsBody(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            let id = try await client.createdUserID(email: "valid@example.com")
            let nothing = try await client.patchUser(id, [:])
            #expect(nothing.status == .unprocessableContent)
            #expect(Set(try errorFields(nothing)) == ["email", "name", "password"])

            let unknown = try await client.patchUser(id, ["name": "Ok", "roles": ["admin"]])
            #expect(unknown.status == .unprocessableContent)
            #expect(try errorFields(unknown) == ["roles"])

            let bad = try await client.patchUser(id, ["email": "nope", "name": NSNull(), "password": "short"])
            #expect(bad.status == .unprocessableContent)
            #expect(Set(try errorFields(bad)) == ["email", "name", "password"])
            #expect(try errorMessages(bad, field: "name") == ["must be a string, not null"])

            let text = try await client.execute(
                uri: "/api/users/\(id)", method: .patch, headers: [.contentType: "text/plain"],
                body: try jsonBody(["name": "Ok"]))
            #expect(text.status == .unsupportedMediaType)
            let malformed = try await client.execute(
                uri: "/api/users/\(id)", method: .patch, headers: jsonHeaders, body: .init(string: "{"))
            #expect(malformed.status == .badRequest)

            // Nothing above changed the account.
            #expect(try await storedRow(service, id: id)["version"] == "1")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func patchOfAMissingUserIsNotFound(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let response = try await client.patchUser(Identifier.make(prefix: "usr"), ["name": "Nobody"])
            #expect(response.status == .notFound)
            #expect(try await client.patchUser("garbage", ["name": "Nobody"]).status == .notFound)
        }
    }
}
