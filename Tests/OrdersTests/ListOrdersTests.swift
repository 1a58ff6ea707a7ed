import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Orders

@Suite struct ListOrdersTests {
    @Test(arguments: TestDatabase.engines)
    func filtersByUserAndStatus(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let a1 = try await h.client.placedOrderID(userID: h.userID)
            let a2 = try await h.client.paidOrderID(userID: h.userID)
            let a3 = try await h.client.placedOrderID(userID: h.userID)
            let b1 = try await h.client.paidOrderID(userID: otherUserID)
            let b2 = try await h.client.placedOrderID(userID: otherUserID)

            func ids(_ query: String) async throws -> [String] {
                let response = try await h.client.get("/api/orders\(query)")
                #expect(response.status == .ok, "\(query)")
                return try listed(response).compactMap { $0["id"] as? String }
            }
            #expect(try await ids("") == [a1, a2, a3, b1, b2])
            #expect(try await ids("?user_id=\(h.userID)") == [a1, a2, a3])
            #expect(try await ids("?status=paid") == [a2, b1])
            #expect(try await ids("?status=pending&user_id=\(otherUserID)") == [b2])
            #expect(try await ids("?status=refunded").isEmpty)
            #expect(try await ids("?user_id=\(Identifier.make(prefix: "usr"))").isEmpty)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func cursorPaginationVisitsEveryOrderOnceInCreationOrder(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            var created: [String] = []
            for _ in 0..<5 { created.append(try await h.client.placedOrderID(userID: h.userID)) }
            _ = try await h.client.placedOrderID(userID: otherUserID)

            var seen: [String] = []
            var pages: [Int] = []
            var uri = "/api/orders?limit=2&user_id=\(h.userID)"
            while true {
                let response = try await h.client.get(uri)
                #expect(response.status == .ok)
                let page = try object(response)
                let data = try #require(page["data"] as? [[String: Any]])
                pages.append(data.count)
                seen += data.compactMap { $0["id"] as? String }
                guard let cursor = page["next_cursor"] as? String else {
                    #expect(page.keys.contains("next_cursor"))
                    break
                }
                uri = "/api/orders?limit=2&user_id=\(h.userID)&cursor=\(cursor)"
            }
            #expect(pages == [2, 2, 1])
            #expect(seen == created)

            let all = try object(try await h.client.get("/api/orders"))
            #expect((all["data"] as? [Any])?.count == 6)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func badQueryParametersAre400(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            for (query, field) in [
                ("limit=0", "limit"), ("limit=201", "limit"), ("limit=ten", "limit"), ("status=shipped", "status"),
                ("cursor=%25%25%25", "cursor"), ("sort=id", "sort"), ("user_id=", "user_id"),
            ] {
                let response = try await h.client.get("/api/orders?\(query)")
                #expect(response.status == .badRequest, "\(query)")
                #expect(try errorFields(response) == [field], "\(query)")
            }
            #expect(try await h.client.get("/api/orders?limit=200").status == .ok)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func unknownOrdersAre404(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            for uri in [
                "/api/orders/\(Identifier.make(prefix: "ord"))", "/api/orders/not-an-id",
                "/api/orders/\(Identifier.make(prefix: "ord"))/payments",
            ] {
                let response = try await h.client.get(uri)
                #expect(response.status == .notFound, "\(uri)")
                #expect(response.headers[.contentType] == Problem.contentType, "\(uri)")
            }
        }
    }
}
