import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Orders

/// The `:own` rules: a customer (orders:read:own, orders:write:own) sees and changes its own orders only.
@Suite struct CustomerOrderTests {
    @Test(arguments: TestDatabase.engines)
    func aCustomerListsOnlyItsOwnOrders(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let own1 = try await h.client.placedOrderID(userID: h.userID)
            let others1 = try await h.client.placedOrderID(userID: otherUserID)
            let own2 = try await h.client.paidOrderID(userID: h.userID)
            let others2 = try await h.client.paidOrderID(userID: otherUserID)
            let own3 = try await h.client.placedOrderID(userID: h.userID)
            let customer = try await h.client(as: .customer, subject: h.userID)

            func ids(_ client: BearerClient, _ query: String) async throws -> [String] {
                let response = try await client.get("/api/orders\(query)")
                #expect(response.status == .ok, "\(query)")
                return try listed(response).compactMap { $0["id"] as? String }
            }
            #expect(try await ids(customer, "") == [own1, own2, own3])
            #expect(try await ids(customer, "?user_id=\(h.userID)") == [own1, own2, own3])
            #expect(try await ids(customer, "?status=paid") == [own2])
            #expect(try await ids(customer, "?status=pending&user_id=\(h.userID)") == [own1, own3])

            // Naming another user is not an error, and shows nothing: the other's orders might as well not exist.
            let foreign = try await customer.get("/api/orders?user_id=\(otherUserID)")
            #expect(foreign.status == .ok)
            #expect(try listed(foreign).isEmpty)
            #expect(try object(foreign).keys.contains("next_cursor") && object(foreign)["next_cursor"] is NSNull)
            // Bad parameters are still refused before anything else.
            #expect(try await customer.get("/api/orders?user_id=").status == .badRequest)

            // Pages walk the customer's orders only.
            let first = try object(try await customer.get("/api/orders?limit=2"))
            #expect((first["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [own1, own2])
            let cursor = try #require(first["next_cursor"] as? String)
            #expect(try await ids(customer, "?limit=2&cursor=\(cursor)") == [own3])

            // Support reads every order.
            let support = try await h.client(as: .support, subject: Identifier.make(prefix: "usr"))
            #expect(try await ids(support, "") == [own1, others1, own2, others2, own3])
            #expect(try await ids(support, "?user_id=\(otherUserID)") == [others1, others2])
        }
    }

    /// A 404 for someone else's order is byte for byte the 404 for an order that does not exist.
    @Test(arguments: TestDatabase.engines)
    func someoneElsesOrderLooksExactlyLikeAMissingOne(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let theirs = try await h.client.paidOrderID(userID: otherUserID)
            let missing = Identifier.make(prefix: "ord")
            let customer = try await h.client(as: .customer, subject: h.userID)

            let requests: [(String, (String) async throws -> TestResponse)] = [
                ("GET", { try await customer.get("/api/orders/\($0)") }),
                ("GET payments", { try await customer.get("/api/orders/\($0)/payments") }),
                ("PUT", { try await customer.put($0, ["items": [item()]], ifMatch: "\"v2\"") }),
                ("DELETE", { try await customer.delete($0) }),
                ("POST payments", { try await customer.pay($0) }),
                // Not even the body's validation tells the two apart.
                ("POST payments, invalid body", { try await customer.pay($0, method: "") }),
            ]
            for (name, request) in requests {
                let other = try await request(theirs)
                let absent = try await request(missing)
                #expect(other.status == .notFound, "\(name)")
                #expect(other.headers[.contentType] == Problem.contentType, "\(name)")
                #expect(other.headers[.eTag] == nil, "\(name)")
                #expect(other.body == absent.body, "\(name)")
                #expect(absent.status == .notFound, "\(name)")
            }
            #expect(try await h.client.status(ofOrder: theirs) == "paid")
            #expect(try await h.client.attemptSummary(theirs) == ["charge/succeeded"])
            #expect(h.provider.chargeCount == 1)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aCustomerPlacesOrdersOnlyForItself(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let customer = try await h.client(as: .customer, subject: h.userID)
            let own = try await customer.createOrder(orderBody(userID: h.userID))
            #expect(own.status == .created)
            #expect(try object(own)["user_id"] as? String == h.userID)

            let forOther = try await customer.createOrder(orderBody(userID: otherUserID))
            #expect(forOther.status == .forbidden)
            #expect(forOther.headers[.contentType] == Problem.contentType)
            #expect(try problemType(forOther) == Problem.typeBase + "insufficient-permission")
            #expect(forOther.headers[.wwwAuthenticate] == #"Bearer error="insufficient_scope""#)
            // Refused before anyone was asked about the other user, and nothing stored for them.
            #expect(h.users.questions == [h.userID])
            #expect(try listed(try await h.client.get("/api/orders?user_id=\(otherUserID)")).isEmpty)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aCustomerEditsPaysAndCancelsItsPendingOrder(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let customer = try await h.client(as: .customer, subject: h.userID)
            let id = try await customer.placedOrderID(userID: h.userID)

            let items = try await customer.put(id, ["items": [item(quantity: 4)]], ifMatch: "\"v1\"")
            #expect(items.status == .ok)
            #expect(try object(items)["total"] as? Int == 5000)
            var newAddress = address()
            newAddress["city"] = "Paris"
            newAddress["country"] = "FR"
            let moved = try await customer.put(id, ["shipping_address": newAddress])
            #expect(moved.status == .ok)
            #expect((try object(moved)["shipping_address"] as? [String: Any])?["city"] as? String == "Paris")
            #expect(try await customer.pay(id).status == .created)
            #expect(try await customer.status(ofOrder: id) == "paid")
            #expect(try await customer.attemptSummary(id) == ["charge/succeeded"])

            let another = try await customer.placedOrderID(userID: h.userID)
            let cancelled = try await customer.delete(another)
            #expect(cancelled.status == .ok)
            #expect(try object(cancelled)["status"] as? String == "cancelled")
            // Withdrawing an already cancelled order stays a harmless no-op.
            #expect(try await customer.delete(another).status == .ok)
        }
    }

    /// Fulfilment, completion and refunds belong to whoever holds the unrestricted orders:write.
    @Test(arguments: TestDatabase.engines)
    func movingAnOrderAlongNeedsUnrestrictedWrite(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let customer = try await h.client(as: .customer, subject: h.userID)
            let pending = try await customer.placedOrderID(userID: h.userID)
            let paid = try await customer.paidOrderID(userID: h.userID)

            let refusals: [(String, TestResponse)] = [
                ("fulfil", try await customer.put(paid, ["status": "fulfilled"])),
                // Permission comes before preconditions: a stale ETag does not turn the refusal into a 412.
                ("fulfil with a stale ETag", try await customer.put(paid, ["status": "fulfilled"], ifMatch: "\"v1\"")),
                ("complete", try await customer.put(paid, ["status": "completed"])),
                ("status beside an edit", try await customer.put(pending, ["status": "fulfilled", "items": [item()]])),
                ("refund", try await customer.delete(paid)),
            ]
            for (name, response) in refusals {
                #expect(response.status == .forbidden, "\(name)")
                #expect(try problemType(response) == Problem.typeBase + "insufficient-permission", "\(name)")
            }
            #expect(try object(try await h.client.get("/api/orders/\(paid)"))["version"] as? Int == 2)
            #expect(try object(try await h.client.get("/api/orders/\(pending)"))["version"] as? Int == 1)
            #expect(h.provider.refundCount == 0)

            // The administrator moves the same order along.
            #expect(try await h.client.put(paid, ["status": "fulfilled"]).status == .ok)
            #expect(try await h.client.put(paid, ["status": "completed"]).status == .ok)
            #expect(try await customer.status(ofOrder: paid) == "completed")
            let refundable = try await customer.paidOrderID(userID: h.userID)
            #expect(try object(try await h.client.delete(refundable))["status"] as? String == "refunded")
        }
    }

    /// Hiding an order from a caller that may read every order protects nothing: it is told 403, not 404.
    @Test(arguments: TestDatabase.engines)
    func aCallerThatReadsEveryOrderButWritesItsOwnIsForbiddenOthers(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let theirs = try await h.client.placedOrderID(userID: otherUserID)
            let clerk = h.client(
                token: try await h.tokens.token(
                    subject: h.userID, roles: ["clerk"], permissions: [.ordersRead, .ordersWriteOwn]))
            #expect(try await clerk.get("/api/orders/\(theirs)").status == .ok)
            for response in [
                try await clerk.put(theirs, ["items": [item(quantity: 7)]]), try await clerk.delete(theirs),
                try await clerk.pay(theirs),
            ] {
                #expect(response.status == .forbidden)
                #expect(try problemType(response) == Problem.typeBase + "insufficient-permission")
            }
            #expect(try object(try await h.client.get("/api/orders/\(theirs)"))["version"] as? Int == 1)
            // Its own order it may change.
            let own = try await clerk.placedOrderID(userID: h.userID)
            #expect(try await clerk.put(own, ["items": [item(quantity: 7)]]).status == .ok)
        }
    }
}
