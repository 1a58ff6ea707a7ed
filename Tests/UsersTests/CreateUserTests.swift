import Foundation
import HTTPTypes
import HummingbirdBcrypt
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Users

@Suite struct CreateUserTests {
    @Test(arguments: TestDatabase.engines)
    func createReturnsTheUserWithLocationAndETag(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let response = try await client.createUser(email: "Ada@Example.com", name: "Ada Lovelace")
            #expect(response.status == .created)
            #expect(response.headers[.contentType] == "application/json")
            #expect(response.headers[.requestID] != nil)
            let user = try object(response)
            let id = try #require(user["id"] as? String)
            #expect(Identifier.isWellFormed(id, prefix: "usr"))
            #expect(response.headers[.location] == "/api/users/\(id)")
            #expect(response.headers[.eTag] == "\"v1\"")
            // Stored as given, not lower-cased.
            #expect(user["email"] as? String == "Ada@Example.com")
            #expect(user["name"] as? String == "Ada Lovelace")
            #expect(user["roles"] as? [String] == ["customer"])
            // Exactly the documented members: no password, no hash, no version in the body.
            #expect(Set(user.keys) == ["id", "email", "name", "roles", "created_at", "updated_at"])
            let created = try #require(user["created_at"] as? String)
            #expect(created.hasSuffix("Z") && Timestamp.parse(created) != nil)
            #expect(user["updated_at"] as? String == created)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func getReturnsWhatCreateReturned(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let created = try await client.createUser(email: "grace@example.com", name: "Grace Hopper")
            let id = try #require(try object(created)["id"] as? String)
            let fetched = try await client.get("/api/users/\(id)")
            #expect(fetched.status == .ok)
            #expect(fetched.headers[.eTag] == "\"v1\"")
            #expect(NSDictionary(dictionary: try object(fetched)) == NSDictionary(dictionary: try object(created)))
        }
    }

    @Test(arguments: TestDatabase.engines)
    func unknownAndMalformedIdsAreNotFound(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            for path in ["/api/users/\(Identifier.make(prefix: "usr"))", "/api/users/not-an-id",
                         "/api/users/\(Identifier.make(prefix: "ord"))"] {
                let response = try await client.get(path)
                #expect(response.status == .notFound, "\(path)")
                #expect(response.headers[.contentType] == Problem.contentType)
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func idsAreDistinctAndWellFormed(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            var ids: Set<String> = []
            for index in 0..<5 { ids.insert(try await client.createdUserID(email: "u\(index)@example.com")) }
            #expect(ids.count == 5)
            #expect(ids.allSatisfy { Identifier.isWellFormed($0, prefix: "usr") })
        }
    }

    @Test(arguments: TestDatabase.engines)
    func passwordIsStoredOnlyAsABcryptHashAndNeverReturned(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            let password = "tr0ub4dor&3-horse"
            let created = try await client.createUser(email: "alan@example.com", password: password)
            let id = try #require(try object(created)["id"] as? String)
            let fetched = try await client.get("/api/users/\(id)")
            let listed = try await client.get("/api/users")
            for response in [created, fetched, listed] {
                let text = String(buffer: response.body)
                #expect(!text.contains(password))
                #expect(!text.contains("password"))
                #expect(!text.contains("$2b$"))
            }

            let row = try await storedRow(service, id: id)
            let hash = try #require(row["password_hash"])
            // bcrypt, at the cost the service was built with.
            #expect(hash.hasPrefix("$2b$04$") && hash.count == 60)
            #expect(Bcrypt.verify(password, hash: hash))
            #expect(!Bcrypt.verify(password + "x", hash: hash))
            #expect(row.values.allSatisfy { !$0.contains(password) })
            #expect(try await service.repository.passwordHash(id: id) == hash)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func emailIsUniqueIgnoringCase(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            #expect(try await client.createUser(email: "Linus@Example.com").status == .created)
            let clash = try await client.createUser(email: "linus@EXAMPLE.com")
            #expect(clash.status == .conflict)
            #expect(clash.headers[.contentType] == Problem.contentType)
            #expect(try object(clash)["type"] as? String == "https://meridian.dev/problems/email-taken")
            // The address is not echoed back.
            #expect(!String(buffer: clash.body).lowercased().contains("linus@example.com"))
            #expect(try await userCount(service) == 1)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func concurrentCreatesWithOneEmailYieldOneAccount(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            let attempts = 8
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<attempts {
                    // Different spellings of one address, so only the normalised unique index can tell.
                    let email = index.isMultiple(of: 2) ? "Race@Example.com" : "race@example.COM"
                    group.addTask { try await client.createUser(email: email, name: "Racer \(index)").status }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 1)
            #expect(statuses.filter { $0 == .conflict }.count == attempts - 1)
            #expect(try await userCount(service) == 1)
        }
    }
}
