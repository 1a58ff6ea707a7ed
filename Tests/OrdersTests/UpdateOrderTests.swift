import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Orders

@Suite struct UpdateOrderTests {
    @Test(arguments: TestDatabase.engines)
    func replacingItemsWhilePendingRecomputesTheTotal(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            let response = try await h.client.put(
                id, ["items": [item(quantity: 3, unitPrice: 1250), item(sku: "SKU-9", quantity: 1, unitPrice: 1)]])
            #expect(response.status == .ok)
            #expect(response.headers[.eTag] == "\"v2\"")
            let order = try object(response)
            #expect(order["total"] as? Int == 3751)
            #expect((order["items"] as? [Any])?.count == 2)
            #expect(order["version"] as? Int == 2)
            #expect(order["status"] as? String == "pending")
            #expect(try object(try await h.client.get("/api/orders/\(id)"))["total"] as? Int == 3751)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func replacingTheAddressWhilePending(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            var newAddress = address()
            newAddress["city"] = "Paris"
            newAddress["country"] = "FR"
            newAddress["line2"] = "Bâtiment B"
            let response = try await h.client.put(id, ["shipping_address": newAddress])
            #expect(response.status == .ok)
            let shipping = try #require(try object(response)["shipping_address"] as? [String: Any])
            #expect(shipping["city"] as? String == "Paris")
            #expect(shipping["country"] as? String == "FR")
            #expect(shipping["line2"] as? String == "Bâtiment B")
            #expect(try object(response)["total"] as? Int == 2500)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func itemsAndAddressAreFrozenOnceMoneyMoved(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.paidOrderID(userID: h.userID)
            for change in [["items": [item(quantity: 9)]], ["shipping_address": address()]] as [[String: Any]] {
                let response = try await h.client.put(id, change)
                #expect(response.status == .conflict)
                #expect(try object(response)["current_status"] as? String == "paid")
            }
            let order = try object(try await h.client.get("/api/orders/\(id)"))
            #expect(order["total"] as? Int == 2500)
            #expect(order["version"] as? Int == 2)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func statusMovesFromPaidToFulfilledToCompleted(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.paidOrderID(userID: h.userID)
            let fulfilled = try await h.client.put(id, ["status": "fulfilled"])
            #expect(fulfilled.status == .ok)
            #expect(try object(fulfilled)["status"] as? String == "fulfilled")
            #expect(fulfilled.headers[.eTag] == "\"v3\"")
            let completed = try await h.client.put(id, ["status": "completed"], ifMatch: "\"v3\"")
            #expect(completed.status == .ok)
            #expect(try object(completed)["status"] as? String == "completed")
            #expect(completed.headers[.eTag] == "\"v4\"")
            #expect(try await h.client.status(ofOrder: id) == "completed")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func illegalMovesAre409WithTheCurrentStatus(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let pending = try await h.client.placedOrderID(userID: h.userID)
            let paid = try await h.client.paidOrderID(userID: h.userID)
            let completed = try await h.client.paidOrderID(userID: h.userID)
            #expect(try await h.client.put(completed, ["status": "fulfilled"]).status == .ok)
            #expect(try await h.client.put(completed, ["status": "completed"]).status == .ok)

            let moves: [(String, String, String)] = [
                (pending, "fulfilled", "pending"), (pending, "completed", "pending"), (pending, "paid", "pending"),
                (pending, "cancelled", "pending"), (pending, "pending", "pending"), (paid, "completed", "paid"),
                (paid, "paid", "paid"), (paid, "refunded", "paid"), (paid, "cancelled", "paid"),
                (completed, "fulfilled", "completed"), (completed, "completed", "completed"),
            ]
            for (id, target, current) in moves {
                let response = try await h.client.put(id, ["status": target])
                #expect(response.status == .conflict, "\(current) → \(target)")
                #expect(response.headers[.contentType] == Problem.contentType)
                #expect(try object(response)["current_status"] as? String == current, "\(current) → \(target)")
            }
            #expect(try await h.client.status(ofOrder: pending) == "pending")
            #expect(try await h.client.status(ofOrder: paid) == "paid")
            #expect(try object(try await h.client.get("/api/orders/\(pending)"))["version"] as? Int == 1)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func invalidChangesAre422(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            let cases: [(String, [String: Any], [String])] = [
                ("nothing to change", [:], [""]),
                ("unknown status", ["status": "shipped"], ["status"]),
                ("status a number", ["status": 1], ["status"]),
                ("empty items", ["items": [Any]()], ["items"]),
                ("bad item", ["items": [item(quantity: 0)]], ["items[0].quantity"]),
                (
                    "bad country", ["shipping_address": address().merging(["country": "ZZ"]) { $1 }],
                    ["shipping_address.country"]
                ),
                ("unknown member", ["items": [item()], "currency": "USD"], ["currency"]),
            ]
            for (name, body, fields) in cases {
                let response = try await h.client.put(id, body)
                #expect(response.status == .unprocessableContent, "\(name)")
                #expect(try errorFields(response) == fields, "\(name)")
            }
            #expect(try object(try await h.client.get("/api/orders/\(id)"))["version"] as? Int == 1)
            #expect(try await h.client.put(Identifier.make(prefix: "ord"), ["status": "fulfilled"]).status == .notFound)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func ifMatchGuardsAgainstLostUpdates(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            #expect(try await h.client.get("/api/orders/\(id)").headers[.eTag] == "\"v1\"")

            let current = try await h.client.put(id, ["items": [item(quantity: 3)]], ifMatch: "\"v1\"")
            #expect(current.status == .ok)
            #expect(current.headers[.eTag] == "\"v2\"")
            #expect(try await h.client.get("/api/orders/\(id)").headers[.eTag] == "\"v2\"")

            // A client still holding v1 must not overwrite v2.
            let stale = try await h.client.put(id, ["items": [item(quantity: 4)]], ifMatch: "\"v1\"")
            #expect(stale.status == .preconditionFailed)
            #expect(stale.headers[.eTag] == "\"v2\"")
            #expect(stale.headers[.contentType] == Problem.contentType)
            let order = try object(try await h.client.get("/api/orders/\(id)"))
            #expect(order["total"] as? Int == 3750)
            #expect(order["version"] as? Int == 2)

            #expect(try await h.client.put(id, ["items": [item(quantity: 5)]], ifMatch: "*").status == .ok)
            #expect(try await h.client.get("/api/orders/\(id)").headers[.eTag] == "\"v3\"")
        }
    }

    /// Two writers that read the same version: the second `UPDATE … WHERE version = ?` matches no row.
    @Test(arguments: TestDatabase.engines)
    func aConcurrentUpdateThatLosesTheRaceIsRefused(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            let read = try #require(try await h.service.repository.order(id: id))
            var first = read
            try first.replaceItems([OrderItem(sku: "A", name: "A", quantity: 1, unitPrice: 1)])
            var second = read
            second.status = .cancelled

            let stored = try await h.service.repository.update(first, expectedVersion: read.version, now: Date())
            #expect(stored.version == 2)
            await #expect(throws: ConcurrentUpdateError.self) {
                try await h.service.repository.update(second, expectedVersion: read.version, now: Date())
            }
            let order = try #require(try await h.service.repository.order(id: id))
            #expect(order.status == .pending && order.total.minorUnits == 1 && order.version == 2)
        }
    }
}

/// How the routes answer the storage layer's refusals, through the same middleware stack as the service.
@Suite struct OrderErrorMappingTests {
    static let errors: [String: any Error] = [
        "race": ConcurrentUpdateError(),
        "busy": OrderStoreError.paymentInProgress(abandoned: false),
        "abandoned": OrderStoreError.paymentInProgress(abandoned: true),
        "status": OrderStoreError.wrongStatus(current: .fulfilled),
        "missing": OrderStoreError.orderNotFound,
        "unknown": PaymentOutcomeUnknown(),
    ]

    @Test func refusalsBecomeProblems() async throws {
        let router = Router(context: MeridianRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: OrderErrorMiddleware())
        router.get("/raise/:name") { _, context -> Response in
            throw Self.errors[try context.parameters.require("name")]!
        }
        try await Application(router: router).test(.router) { client in
            let expected: [(String, HTTPResponse.Status, String?)] = [
                ("race", .conflict, "concurrent-update"), ("busy", .conflict, "payment-in-progress"),
                ("abandoned", .conflict, "payment-in-progress"), ("status", .conflict, "order-status-conflict"),
                ("missing", .notFound, nil), ("unknown", .badGateway, "payment-processing-error"),
            ]
            for (name, status, type) in expected {
                let response = try await client.get("/raise/\(name)")
                #expect(response.status == status, "\(name)")
                #expect(response.headers[.contentType] == Problem.contentType, "\(name)")
                if let type { #expect(try problemType(response) == "https://meridian.dev/problems/" + type, "\(name)") }
            }
            #expect(try object(try await client.get("/raise/status"))["current_status"] as? String == "fulfilled")
        }
    }
}
