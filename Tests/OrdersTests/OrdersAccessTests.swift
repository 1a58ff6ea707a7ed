import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Orders

@Suite struct OrdersAccessTableTests {
    /// Deny by default: a route added without a rule fails here before it ships (and is refused to everyone).
    @Test func everyRouteHasARuleAndEveryRuleARoute() async throws {
        let service = try OrdersService(
            settings: orderSettings(.sqlite), logger: quietLogger(), userDirectory: InMemoryUserDirectory([]),
            verifier: await TestTokens.make().verifier)
        let router = service.makeRouter()
        #expect(OrdersAccessTable.rules.missingRoutes(router: router) == [])
        #expect(OrdersAccessTable.rules.unusedRules(router: router) == [])
        for route in RouteAccessTable.operationalRoutes { #expect(OrdersAccessTable.rules[route] == .public) }
    }
}

/// Every route against every kind of caller, each cell on an order of its own: the status each cell must
/// answer, and that a refused request changed nothing.
@Suite struct OrdersAccessMatrixTests {
    enum Caller: String, CaseIterable, CustomStringConvertible {
        case admin, support
        case owner = "customer-owner"
        case other = "customer-other"
        case service
        case noToken = "no token"
        case expired = "expired token"
        case tampered = "tampered token"

        var description: String { rawValue }
    }

    enum Route: String, CaseIterable, CustomStringConvertible {
        case list = "GET /api/orders"
        case show = "GET /api/orders/{id}"
        case payments = "GET /api/orders/{id}/payments"
        case create = "POST /api/orders"
        case update = "PUT /api/orders/{id}"
        case delete = "DELETE /api/orders/{id}"
        case pay = "POST /api/orders/{id}/payments"

        var description: String { rawValue }
        var isWrite: Bool { ![.list, .show, .payments].contains(self) }
    }

    /// The matrix. Columns in `Caller.allCases` order: admin, support, customer-owner, customer-other, service,
    /// no token, expired token, tampered token. Every cell acts on a pending order of customer-owner; a create
    /// asks for an order of customer-owner.
    static let expected: [(Route, [Int])] = [
        (.list, [200, 200, 200, 200, 200, 401, 401, 401]),
        (.show, [200, 200, 200, 404, 200, 401, 401, 401]),
        (.payments, [200, 200, 200, 404, 200, 401, 401, 401]),
        (.create, [201, 403, 201, 403, 403, 401, 401, 401]),
        (.update, [200, 403, 200, 404, 403, 401, 401, 401]),
        (.delete, [200, 403, 200, 404, 403, 401, 401, 401]),
        (.pay, [201, 403, 201, 404, 403, 401, 401, 401]),
    ]

    @Test func theMatrixCoversEveryGuardedRoute() {
        #expect(Self.expected.map(\.0) == Route.allCases)
        #expect(Self.expected.allSatisfy { $0.1.count == Caller.allCases.count })
        // The audit route is the kernel's, the same in every service; OrdersAuditTests covers who may read it.
        let guarded = OrdersAccessTable.rules.routes.filter {
            !RouteAccessTable.operationalRoutes.contains($0) && $0 != "GET /api/audit/orders"
        }
        #expect(Set(Route.allCases.map(\.rawValue)) == Set(guarded))
    }

    func clients(_ h: OrdersHarness) async throws -> [Caller: BearerClient] {
        let owner = try await h.tokens.token(.customer, subject: h.userID)
        let service = try await h.tokens.token(.service, subject: "cli_reporting")
        let expired = try await h.tokens.token(.customer, subject: h.userID, issuedAt: Date().addingTimeInterval(-3600))
        return [
            .admin: h.client,
            .support: try await h.client(as: .support, subject: Identifier.make(prefix: "usr")),
            .owner: h.client(token: owner),
            .other: try await h.client(as: .customer, subject: otherUserID),
            .service: h.client(token: service),
            .noToken: h.client(token: nil),
            .expired: h.client(token: expired),
            .tampered: h.client(token: try TestTokens.tampered(owner)),
        ]
    }

    func send(_ route: Route, order id: String, owner: String, as client: BearerClient) async throws -> TestResponse {
        switch route {
        case .list: try await client.get("/api/orders")
        case .show: try await client.get("/api/orders/\(id)")
        case .payments: try await client.get("/api/orders/\(id)/payments")
        case .create: try await client.createOrder(orderBody(userID: owner))
        case .update: try await client.put(id, ["items": [item(quantity: 3)]])
        case .delete: try await client.delete(id)
        case .pay: try await client.pay(id)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func everyCallerGetsTheStatusOfItsCell(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let clients = try await clients(h)
            var placed = 0
            var created = 0
            for (route, statuses) in Self.expected {
                for (caller, status) in zip(Caller.allCases, statuses) {
                    let cell = "\(caller) × \(route)"
                    let id = try await h.client.placedOrderID(userID: h.userID)
                    placed += 1
                    let response = try await send(route, order: id, owner: h.userID, as: try #require(clients[caller]))
                    #expect(response.status.code == status, "\(cell)")
                    if route == .create, response.status == .created { created += 1 }

                    switch status {
                    case 401:
                        #expect(response.headers[.contentType] == Problem.contentType, "\(cell)")
                        let challenge = response.headers[.wwwAuthenticate] ?? ""
                        if caller == .noToken {
                            #expect(challenge == "Bearer", "\(cell)")
                        } else {
                            #expect(challenge.hasPrefix(#"Bearer error="invalid_token""#), "\(cell)")
                        }
                    case 403:
                        #expect(response.headers[.contentType] == Problem.contentType, "\(cell)")
                        #expect(try problemType(response) == Problem.typeBase + "insufficient-permission", "\(cell)")
                    case 404:
                        #expect(response.headers[.contentType] == Problem.contentType, "\(cell)")
                    default:
                        break
                    }
                    // A refusal leaves the order as it was.
                    if route.isWrite, status >= 400 {
                        let order = try object(try await h.client.get("/api/orders/\(id)"))
                        #expect(order["version"] as? Int == 1, "\(cell)")
                        #expect(order["status"] as? String == "pending", "\(cell)")
                    }
                }
            }
            // Only the allowed creates stored an order.
            #expect(created == 2)
            #expect(try listed(try await h.client.get("/api/orders?limit=200")).count == placed + created)
            #expect(h.provider.chargeCount == 2)
        }
    }
}
