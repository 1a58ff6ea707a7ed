import Foundation
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Users

@Suite struct ListUsersTests {
    func ids(_ response: TestResponse) throws -> [String] {
        let data = try #require(try object(response)["data"] as? [[String: Any]])
        return data.compactMap { $0["id"] as? String }
    }

    @Test(arguments: TestDatabase.engines)
    func listShowsEveryUserInIdOrder(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let empty = try await client.get("/api/users")
            #expect(empty.status == .ok)
            #expect(try ids(empty).isEmpty)
            #expect(try object(empty)["next_cursor"] is NSNull)

            var created: [String] = []
            for index in 0..<5 { created.append(try await client.createdUserID(email: "user\(index)@example.com")) }
            let response = try await client.get("/api/users")
            #expect(response.status == .ok)
            #expect(try ids(response) == created.sorted())
            #expect(try object(response)["next_cursor"] is NSNull)
            let first = try #require((try object(response)["data"] as? [[String: Any]])?.first)
            #expect(Set(first.keys) == ["id", "email", "name", "roles", "created_at", "updated_at"])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func emailFilterIsExactAndIgnoresCase(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            _ = try await client.createdUserID(email: "alice@example.com")
            let bob = try await client.createdUserID(email: "Bob@Example.com")
            _ = try await client.createdUserID(email: "bobby@example.com")
            #expect(try ids(try await client.get("/api/users?email=bob@example.com")) == [bob])
            #expect(try ids(try await client.get("/api/users?email=BOB%40EXAMPLE.COM")) == [bob])
            #expect(try ids(try await client.get("/api/users?email=bob")).isEmpty)
            #expect(try ids(try await client.get("/api/users?email=nobody@example.com")).isEmpty)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func cursorWalksEveryPageWithoutGapsOrRepeats(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            var created: [String] = []
            for index in 0..<7 { created.append(try await client.createdUserID(email: "page\(index)@example.com")) }
            var seen: [String] = []
            var pageSizes: [Int] = []
            var uri = "/api/users?limit=3"
            while true {
                let response = try await client.get(uri)
                #expect(response.status == .ok)
                let page = try ids(response)
                pageSizes.append(page.count)
                seen += page
                guard let cursor = try object(response)["next_cursor"] as? String else { break }
                uri = "/api/users?limit=3&cursor=\(cursor)"
                try #require(pageSizes.count <= 3, "the walk does not end")
            }
            #expect(pageSizes == [3, 3, 1])
            #expect(seen == created.sorted())
        }
    }

    @Test(arguments: TestDatabase.engines)
    func paginationComposesWithTheEmailFilter(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let carol = try await client.createdUserID(email: "carol@example.com")
            _ = try await client.createdUserID(email: "dave@example.com")
            let response = try await client.get("/api/users?email=carol@example.com&limit=1")
            #expect(try ids(response) == [carol])
            // Exactly one match and a limit of one: the extra row fetched says there is no next page.
            #expect(try object(response)["next_cursor"] is NSNull)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func badQueryParametersAreBadRequests(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let cases: [(String, [String])] = [
                ("/api/users?sort=name", ["sort"]),
                ("/api/users?limit=0", ["limit"]),
                ("/api/users?limit=201", ["limit"]),
                ("/api/users?limit=ten", ["limit"]),
                ("/api/users?cursor=%E2%9C%93%E2%9C%93", ["cursor"]),
                ("/api/users?cursor=AAAA", ["cursor"]),
                ("/api/users?email=", ["email"]),
                ("/api/users?limit=0&colour=red", ["colour", "limit"]),
            ]
            for (uri, fields) in cases {
                let response = try await client.get(uri)
                #expect(response.status == .badRequest, "\(uri)")
                #expect(response.headers[.contentType] == Problem.contentType)
                #expect(try errorFields(response).sorted() == fields, "\(uri)")
            }
        }
    }
}
