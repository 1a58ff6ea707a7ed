import Foundation
import MeridianKit
import MeridianTestSupport
import NIOHTTP1
import Testing

/// The README's order flow, live, through the gateway, on each engine.
@Suite struct OrderFlowTests {
    static let address = #"{"name": "Ada Lovelace", "line1": "1 Main St", "city": "London", "postal_code": "N1 9GU", "country": "GB"}"#

    func createUser(_ api: APIClient, email: String) async throws -> String {
        let reply = try await api.send(
            .POST, "/api/users",
            json: #"{"email": "\#(email)", "name": "Ada Lovelace", "password": "correct horse battery"}"#)
        #expect(reply.status == 201)
        return try #require(reply.json["id"] as? String)
    }

    func createOrder(_ api: APIClient, userID: String, quantity: Int = 2) async throws -> APIClient.Reply {
        try await api.send(
            .POST, "/api/orders",
            json: #"""
                {"user_id": "\#(userID)", "currency": "EUR",
                 "items": [{"sku": "SKU-1", "name": "Widget", "quantity": \#(quantity), "unit_price": 1250}],
                 "shipping_address": \#(OrderFlowTests.address)}
                """#)
    }

    @Test(arguments: TestDatabase.engines)
    func wholeFlowThroughTheGateway(_ engine: DatabaseEngine) async throws {
        try await Platform.run(.fresh(engine)) { platform in
            let api = platform.admin
            let userID = try await createUser(api, email: "ada@example.com")

            let created = try await createOrder(api, userID: userID)
            #expect(created.status == 201)
            #expect(created.json["total"] as? Int == 2500)
            #expect(created.json["status"] as? String == "pending")
            #expect(created.headers.first(name: "ETag") == "\"v1\"")
            let orderID = try #require(created.json["id"] as? String)

            let replaced = try await api.send(
                .PUT, "/api/orders/\(orderID)",
                json: #"{"items": [{"sku": "SKU-1", "name": "Widget", "quantity": 3, "unit_price": 1250}]}"#,
                headers: [("If-Match", "\"v1\"")])
            #expect(replaced.status == 200)
            #expect(replaced.json["total"] as? Int == 3750)
            let stale = try await api.send(
                .PUT, "/api/orders/\(orderID)",
                json: #"{"items": [{"sku": "SKU-1", "name": "Widget", "quantity": 4, "unit_price": 1250}]}"#,
                headers: [("If-Match", "\"v1\"")])
            #expect(stale.status == 412)
            #expect(stale.contentType == "application/problem+json")

            let declined = try await api.send(
                .POST, "/api/orders/\(orderID)/payments", json: #"{"payment_method": "tok_chargeDeclined"}"#)
            #expect(declined.status == 402)
            let paid = try await api.send(
                .POST, "/api/orders/\(orderID)/payments", json: #"{"payment_method": "tok_visa"}"#)
            #expect(paid.status == 201)
            let order = try await api.send(.GET, "/api/orders/\(orderID)")
            #expect(order.json["status"] as? String == "paid")

            let cancelled = try await api.send(.DELETE, "/api/orders/\(orderID)")
            #expect(cancelled.status == 200)
            #expect(cancelled.json["status"] as? String == "refunded")
            let attempts = try await api.send(.GET, "/api/orders/\(orderID)/payments")
            let kinds = (attempts.json["data"] as? [[String: Any]] ?? []).map { "\($0["kind"] ?? "")/\($0["status"] ?? "")" }
            #expect(kinds == ["charge/declined", "charge/succeeded", "refund/succeeded"])

            let listed = try await api.send(.GET, "/api/orders?user_id=\(userID)&status=refunded")
            #expect((listed.json["data"] as? [Any])?.count == 1)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func ordersForUnknownUsersAreRefusedByAskingTheUsersService(_ engine: DatabaseEngine) async throws {
        try await Platform.run(.fresh(engine)) { platform in
            let api = platform.admin
            let reply = try await createOrder(api, userID: Identifier.make(prefix: "usr"))
            #expect(reply.status == 422)
            let fields = (reply.json["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }
            #expect(fields == ["user_id"])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func dataSurvivesARestart(_ engine: DatabaseEngine) async throws {
        let databases = Platform.Databases.fresh(engine)
        let (userID, orderID) = try await Platform.run(databases) { platform in
            let api = platform.admin
            let userID = try await createUser(api, email: "restart@example.com")
            let order = try await createOrder(api, userID: userID)
            return (userID, try #require(order.json["id"] as? String))
        }
        try await Platform.run(databases) { platform in
            let api = platform.admin
            #expect(try await api.send(.GET, "/api/users/\(userID)").status == 200)
            let order = try await api.send(.GET, "/api/orders/\(orderID)")
            #expect(order.status == 200)
            #expect(order.json["total"] as? Int == 2500)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func theGatewayRefusesRequestsWithoutAValidToken(_ engine: DatabaseEngine) async throws {
        try await Platform.run(.fresh(engine)) { platform in
            let missing = try await platform.anonymous.send(.GET, "/api/orders")
            #expect(missing.status == 401)
            #expect(missing.headers.first(name: "WWW-Authenticate")?.hasPrefix("Bearer") == true)
            let forged = APIClient(baseURL: platform.gatewayURL, token: platform.adminToken + "x")
            let invalid = try await forged.send(.GET, "/api/orders")
            #expect(invalid.status == 401)
            #expect(invalid.headers.first(name: "WWW-Authenticate")?.contains("invalid_token") == true)
            // Straight to the service, bypassing the gateway, the token is checked again.
            let direct = APIClient(baseURL: platform.serviceURLs["orders"]!, token: nil)
            #expect(try await direct.send(.GET, "/api/orders").status == 401)
            let directAdmin = APIClient(baseURL: platform.serviceURLs["orders"]!, token: platform.adminToken)
            #expect(try await directAdmin.send(.GET, "/api/orders").status == 200)
        }
    }

    @Test func requestIDsCrossTheGateway() async throws {
        try await Platform.run(.fresh(.sqlite)) { platform in
            let api = platform.admin
            let reply = try await api.send(.GET, "/api/users", headers: [("X-Request-Id", "trace-me-42")])
            #expect(reply.status == 200)
            #expect(reply.headers.first(name: "X-Request-Id") == "trace-me-42")
            let missing = try await api.send(.GET, "/api/nothing-here")
            #expect(missing.status == 404)
            #expect(missing.contentType == "application/problem+json")
        }
    }
}
