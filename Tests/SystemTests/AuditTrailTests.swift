import Foundation
import MeridianKit
import MeridianTestSupport
import NIOHTTP1
import Testing

/// `GET /api/audit` at the gateway: every service's audit records in one list, oldest first, each marked with
/// its service, paginated across the services without loss or repetition, filtered by the services
/// themselves, and refused as the services refuse.
@Suite struct AuditTrailTests {
    @Test(arguments: TestDatabase.engines)
    func oneListOfEveryServicesRecords(_ engine: DatabaseEngine) async throws {
        try await Platform.run(.fresh(engine)) { platform in
            let api = platform.admin
            let flow = OrderFlowTests()
            let userID = try await flow.createUser(api, email: "grace@example.com")
            #expect(try await flow.createOrder(api, userID: userID).status == 201)
            #expect(try await api.send(.POST, "/api/analytics/write-keys").status == 201)

            // Each service's own list, as the merged one must contain it, once the work the order set off in the
            // background (its events, their records) has settled: the same in two reads a second apart.
            var expected = try await Self.perService(api)
            for _ in 0..<20 {
                try await Task.sleep(for: .seconds(1))
                let again = try await Self.perService(api)
                if again == expected { break }
                expected = again
            }
            #expect(expected.contains { $0.hasPrefix("users/") } && expected.contains { $0.hasPrefix("orders/") })
            #expect(expected.contains { $0.hasPrefix("analytics/") })

            let whole = try await api.send(.GET, "/api/audit?limit=200")
            #expect(whole.status == 200)
            let records = try #require(whole.json["data"] as? [[String: Any]])
            #expect(whole.json["next_cursor"] is NSNull)
            // Work the order set off keeps writing records later (a delivery's final outcome after its retries), so
            // the merged list may hold more than the services held a moment ago, never less.
            #expect(expected.isSubset(of: Set(try records.map(Self.key))))
            let times = records.compactMap { ($0["time"] as? String).flatMap(Timestamp.parse) }
            #expect(times.count == records.count && times == times.sorted(), "oldest first across services")

            // Two at a time, following the cursor: the same records in the same order, none twice.
            var paged: [String] = []
            var cursor: String?
            repeat {
                let query = "/api/audit?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let reply = try await api.send(.GET, query)
                #expect(reply.status == 200)
                let page = try #require(reply.json["data"] as? [[String: Any]])
                #expect(page.count <= 2)
                paged += try page.map(Self.key)
                cursor = reply.json["next_cursor"] as? String
            } while cursor != nil && paged.count <= 1000
            // Every record of the whole list, in the same order, and none twice; records written meanwhile may
            // join the pages.
            let wholeKeys = try records.map(Self.key)
            #expect(Set(paged).count == paged.count)
            #expect(paged.filter(Set(wholeKeys).contains) == wholeKeys)

            // Filters are the services' own.
            let creates = try await api.send(.GET, "/api/audit?action=order.create")
            let created = try #require(creates.json["data"] as? [[String: Any]])
            #expect(created.count == 1 && created.first?["service"] as? String == "orders")
            // Passed on as written: each service decodes it as its own list would.
            let encoded = try await api.send(.GET, "/api/audit?action=order%2Ecreate")
            #expect((encoded.json["data"] as? [[String: Any]])?.count == 1)
        }
    }

    @Test func refusalsAreTheServicesOwn() async throws {
        try await Platform.run(.fresh(.sqlite)) { platform in
            #expect(try await platform.anonymous.send(.GET, "/api/audit").status == 401)
            let flow = OrderFlowTests()
            _ = try await flow.createUser(platform.admin, email: "ada@example.com")
            let token = try await SignIn(gatewayURL: platform.gatewayURL).accessToken(
                email: "ada@example.com", password: "correct horse battery")
            let customer = APIClient(baseURL: platform.gatewayURL, token: token)
            let forbidden = try await customer.send(.GET, "/api/audit")
            #expect(forbidden.status == 403)
            #expect(forbidden.contentType == "application/problem+json")

            // A bad query is refused as each service's own list refuses it.
            let badFilter = try await platform.admin.send(.GET, "/api/audit?outcome=maybe")
            #expect(badFilter.status == 400)
            #expect(badFilter.contentType == "application/problem+json")
            #expect(try await platform.admin.send(.GET, "/api/audit/orders?outcome=maybe").status == 400)
            #expect(try await platform.admin.send(.GET, "/api/audit?colour=red").status == 400)
            let forged = PageRequest.encodeCursor("payments.3")
            #expect(try await platform.admin.send(.GET, "/api/audit?cursor=\(forged)").status == 400)
        }
    }

    static func perService(_ api: APIClient) async throws -> Set<String> {
        var records: Set<String> = []
        for service in ["users", "orders", "notifications", "analytics"] {
            let reply = try await api.send(.GET, "/api/audit/\(service)?limit=200")
            #expect(reply.status == 200)
            for record in try #require(reply.json["data"] as? [[String: Any]]) {
                records.insert("\(service)/\(try #require(record["id"] as? String))")
            }
        }
        return records
    }

    static func key(_ record: [String: Any]) throws -> String {
        "\(try #require(record["service"] as? String))/\(try #require(record["id"] as? String))"
    }
}
