import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Orders

@Suite struct DeleteOrderTests {
    @Test(arguments: TestDatabase.engines)
    func deletingAPendingOrderCancelsIt(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            let response = try await h.client.delete(id, ifMatch: "\"v1\"")
            #expect(response.status == .ok)
            #expect(response.headers[.eTag] == "\"v2\"")
            #expect(try object(response)["status"] as? String == "cancelled")
            // Never physically deleted.
            let stored = try await h.client.get("/api/orders/\(id)")
            #expect(stored.status == .ok)
            #expect(try object(stored)["status"] as? String == "cancelled")
            #expect(try await h.client.attemptSummary(id).isEmpty)
            #expect(h.provider.refundCount == 0)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func deletingAPaidOrderRefundsItThroughTheProvider(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.paidOrderID(userID: h.userID)
            let response = try await h.client.delete(id)
            #expect(response.status == .ok)
            #expect(try object(response)["status"] as? String == "refunded")
            #expect(response.headers[.eTag] == "\"v3\"")
            let attempts = try listed(try await h.client.get("/api/orders/\(id)/payments"))
            #expect(
                attempts.map { "\($0["kind"] ?? "")/\($0["status"] ?? "")" } == [
                    "charge/succeeded", "refund/succeeded",
                ])
            let refund = try #require(attempts.last)
            #expect(refund["amount"] as? Int == 2500)
            #expect(refund["currency"] as? String == "EUR")
            #expect((refund["provider_reference"] as? String)?.hasPrefix("re_") == true)
            #expect(h.provider.refundCount == 1)
            #expect(try await h.client.status(ofOrder: id) == "refunded")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func deletingACancelledOrRefundedOrderChangesNothing(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let cancelled = try await h.client.placedOrderID(userID: h.userID)
            #expect(try await h.client.delete(cancelled).status == .ok)
            let refunded = try await h.client.paidOrderID(userID: h.userID)
            #expect(try await h.client.delete(refunded).status == .ok)

            for (id, status, version) in [(cancelled, "cancelled", 2), (refunded, "refunded", 3)] {
                let again = try await h.client.delete(id)
                #expect(again.status == .ok)
                let order = try object(again)
                #expect(order["status"] as? String == status)
                #expect(order["version"] as? Int == version)
                #expect(again.headers[.eTag] == "\"v\(version)\"")
            }
            #expect(h.provider.refundCount == 1)
            #expect(try await h.client.attemptSummary(refunded) == ["charge/succeeded", "refund/succeeded"])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func fulfilledAndCompletedOrdersCannotBeWithdrawn(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let fulfilled = try await h.client.paidOrderID(userID: h.userID)
            #expect(try await h.client.put(fulfilled, ["status": "fulfilled"]).status == .ok)
            let completed = try await h.client.paidOrderID(userID: h.userID)
            #expect(try await h.client.put(completed, ["status": "fulfilled"]).status == .ok)
            #expect(try await h.client.put(completed, ["status": "completed"]).status == .ok)

            for (id, status) in [(fulfilled, "fulfilled"), (completed, "completed")] {
                let response = try await h.client.delete(id)
                #expect(response.status == .conflict)
                #expect(try object(response)["current_status"] as? String == status)
                #expect(try await h.client.status(ofOrder: id) == status)
            }
            #expect(h.provider.refundCount == 0)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func staleIfMatchIs412AndUnknownOrdersAre404(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.paidOrderID(userID: h.userID)
            let stale = try await h.client.delete(id, ifMatch: "\"v1\"")
            #expect(stale.status == .preconditionFailed)
            #expect(stale.headers[.eTag] == "\"v2\"")
            #expect(try await h.client.status(ofOrder: id) == "paid")
            #expect(h.provider.refundCount == 0)
            #expect(try await h.client.delete(Identifier.make(prefix: "ord")).status == .notFound)
        }
    }

    /// A provider that does not know the charge (here: a restarted test provider, whose records lived in memory)
    /// refuses the refund; the order stays paid and the refusal is recorded.
    /// The restarted service is the same deployment: same database, same master key.
    @Test(arguments: TestDatabase.engines)
    func aRefundTheProviderRefusesIs502AndTheOrderStaysPaid(_ engine: DatabaseEngine) async throws {
        let url = TestDatabase.url(engine, service: OrdersService.name)
        let masterKey = TestMasterKey.make()
        let id = try await withOrdersService(engine, databaseURL: url, keepDatabase: true, masterKey: masterKey) { h in
            try await h.client.paidOrderID(userID: h.userID)
        }
        try await withOrdersService(engine, databaseURL: url, masterKey: masterKey) { h in
            let response = try await h.client.delete(id)
            #expect(response.status == .badGateway)
            #expect(try problemType(response) == "https://meridian.dev/problems/refund-failed")
            #expect(try await h.client.status(ofOrder: id) == "paid")
            #expect(try await h.client.attemptSummary(id) == ["charge/succeeded", "refund/declined"])
            let refund = try #require(try listed(try await h.client.get("/api/orders/\(id)/payments")).last)
            #expect(refund["failure_reason"] as? String == "no_such_charge")
            #expect(h.provider.refundCount == 0)
        }
    }
}
