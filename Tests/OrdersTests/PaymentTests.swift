import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Orders

@Suite struct PaymentTests {
    @Test(arguments: TestDatabase.engines)
    func aGoodCardPaysTheOrderAndRecordsTheAttempt(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            let response = try await h.client.pay(id, method: "tok_visa")
            #expect(response.status == .created)
            let attempt = try object(response)
            #expect(Identifier.isWellFormed(attempt["id"] as? String ?? "", prefix: "pay"))
            #expect(attempt["order_id"] as? String == id)
            #expect(attempt["kind"] as? String == "charge")
            #expect(attempt["status"] as? String == "succeeded")
            #expect(attempt["amount"] as? Int == 2500)
            #expect(attempt["currency"] as? String == "EUR")
            #expect(attempt["payment_method"] as? String == "tok_visa")
            #expect((attempt["provider_reference"] as? String)?.hasPrefix("ch_") == true)
            #expect(attempt.keys.contains("failure_reason") && attempt["failure_reason"] is NSNull)
            #expect(attempt["created_at"] is String)

            let order = try await h.client.get("/api/orders/\(id)")
            #expect(try object(order)["status"] as? String == "paid")
            #expect(order.headers[.eTag] == "\"v2\"")
            let attempts = try listed(try await h.client.get("/api/orders/\(id)/payments"))
            #expect(attempts.count == 1)
            #expect(attempts.first?["id"] as? String == attempt["id"] as? String)
            #expect(try object(try await h.client.get("/api/orders/\(id)/payments")).keys.contains("next_cursor"))
            #expect(h.provider.chargeCount == 1)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aDeclinedCardIs402AndTheOrderStaysPending(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            let response = try await h.client.pay(id, method: "tok_chargeDeclined")
            #expect(response.status.code == 402)
            #expect(response.headers[.contentType] == Problem.contentType)
            #expect(try problemType(response) == "https://meridian.dev/problems/payment-declined")
            #expect(try await h.client.status(ofOrder: id) == "pending")
            let attempts = try listed(try await h.client.get("/api/orders/\(id)/payments"))
            #expect(attempts.count == 1)
            #expect(attempts.first?["status"] as? String == "declined")
            #expect(attempts.first?["failure_reason"] as? String == "card_declined")
            #expect(attempts.first?["id"] as? String == (try object(response)["payment_attempt_id"] as? String))
            #expect(h.provider.chargeCount == 0)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aProcessingErrorIs502AndARetrySucceeds(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            let failed = try await h.client.pay(id, method: "tok_processingError")
            #expect(failed.status == .badGateway)
            #expect(try problemType(failed) == "https://meridian.dev/problems/payment-processing-error")
            #expect(try await h.client.status(ofOrder: id) == "pending")

            let retried = try await h.client.pay(id, method: "tok_visa")
            #expect(retried.status == .created)
            #expect(try await h.client.status(ofOrder: id) == "paid")
            #expect(try await h.client.attemptSummary(id) == ["charge/failed", "charge/succeeded"])
            let attempts = try listed(try await h.client.get("/api/orders/\(id)/payments"))
            #expect(attempts.first?["failure_reason"] as? String == "processing_error")
            #expect(attempts.first?["provider_reference"] is NSNull)
            #expect(h.provider.chargeCount == 1)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func onlyPendingOrdersCanBePaid(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let paid = try await h.client.paidOrderID(userID: h.userID)
            let again = try await h.client.pay(paid)
            #expect(again.status == .conflict)
            #expect(try object(again)["current_status"] as? String == "paid")

            let cancelled = try await h.client.placedOrderID(userID: h.userID)
            #expect(try await h.client.delete(cancelled).status == .ok)
            let afterCancel = try await h.client.pay(cancelled)
            #expect(afterCancel.status == .conflict)
            #expect(try object(afterCancel)["current_status"] as? String == "cancelled")

            #expect(try await h.client.pay(Identifier.make(prefix: "ord")).status == .notFound)
            #expect(h.provider.chargeCount == 1)
            #expect(try await h.client.attemptSummary(paid) == ["charge/succeeded"])
            #expect(try await h.client.attemptSummary(cancelled).isEmpty)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func invalidPaymentRequestsAre422AndChargeNothing(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            let cases: [(String, [String: Any], [String])] = [
                ("unknown test method", ["payment_method": "tok_mastercard"], ["payment_method"]),
                ("a card number", ["payment_method": "4242424242424242"], ["payment_method"]),
                ("empty", ["payment_method": ""], ["payment_method"]),
                ("too long", ["payment_method": String(repeating: "t", count: 101)], ["payment_method"]),
                ("missing", [:], ["payment_method"]),
                ("not a string", ["payment_method": 4242], ["payment_method"]),
                ("unknown member", ["payment_method": "tok_visa", "amount": 1], ["amount"]),
            ]
            for (name, body, fields) in cases {
                let response = try await h.client.execute(
                    uri: "/api/orders/\(id)/payments", method: .post, headers: jsonHeaders, body: try jsonBody(body))
                #expect(response.status == .unprocessableContent, "\(name)")
                #expect(try errorFields(response) == fields, "\(name)")
            }
            #expect(try await h.client.attemptSummary(id).isEmpty)
            #expect(try await h.client.status(ofOrder: id) == "pending")
        }
    }

    /// Many simultaneous payments of one order: one charge, one success, the rest 409.
    @Test(arguments: TestDatabase.engines)
    func concurrentPaymentsChargeExactlyOnce(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<12 { group.addTask { try await h.client.pay(id).status } }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 1)
            #expect(statuses.filter { $0 == .conflict }.count == 11)
            #expect(h.provider.chargeCount == 1)
            #expect(try await h.client.attemptSummary(id) == ["charge/succeeded"])
            #expect(try object(try await h.client.get("/api/orders/\(id)"))["version"] as? Int == 2)
        }
    }
}
