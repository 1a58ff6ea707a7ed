import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Orders

@Suite struct OrderIdempotencyTests {
    @Test(arguments: TestDatabase.engines)
    func creatingTwiceWithOneKeyCreatesOneOrder(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let body = orderBody(userID: h.userID)
            let first = try await h.client.createOrder(body, headers: [.idempotencyKey: "order-1"])
            #expect(first.status == .created)
            let replay = try await h.client.createOrder(body, headers: [.idempotencyKey: "order-1"])
            #expect(replay.status == .created)
            #expect(replay.headers[.idempotentReplayed] == "true")
            #expect(replay.headers[.location] == first.headers[.location])
            #expect(replay.headers[.eTag] == "\"v1\"")
            #expect(replay.body == first.body)
            #expect(try listed(try await h.client.get("/api/orders")).count == 1)

            // The same key for a different request is refused; a new key is a new order.
            let other = try await h.client.createOrder(
                orderBody(userID: h.userID, items: [item(quantity: 5)]), headers: [.idempotencyKey: "order-1"])
            #expect(other.status == .unprocessableContent)
            #expect(try await h.client.createOrder(body, headers: [.idempotencyKey: "order-2"]).status == .created)
            #expect(try listed(try await h.client.get("/api/orders")).count == 2)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func retryingAPaymentWithItsKeyNeverChargesTwice(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            let first = try await h.client.pay(id, headers: [.idempotencyKey: "pay-1"])
            #expect(first.status == .created)
            let replay = try await h.client.pay(id, headers: [.idempotencyKey: "pay-1"])
            #expect(replay.status == .created)
            #expect(replay.headers[.idempotentReplayed] == "true")
            #expect(try object(replay)["id"] as? String == (try object(first)["id"] as? String))
            #expect(h.provider.chargeCount == 1)
            #expect(try await h.client.attemptSummary(id) == ["charge/succeeded"])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aDeclineIsReplayedButAProcessingErrorMayBeRetried(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let declinedOrder = try await h.client.placedOrderID(userID: h.userID)
            let declined = try await h.client.pay(
                declinedOrder, method: "tok_chargeDeclined", headers: [.idempotencyKey: "k-declined"])
            #expect(declined.status.code == 402)
            let replayed = try await h.client.pay(
                declinedOrder, method: "tok_chargeDeclined", headers: [.idempotencyKey: "k-declined"])
            #expect(replayed.status.code == 402)
            #expect(replayed.headers[.idempotentReplayed] == "true")
            #expect(try await h.client.attemptSummary(declinedOrder) == ["charge/declined"])

            // 5xx answers are not kept: the same key runs the request again.
            let failingOrder = try await h.client.placedOrderID(userID: h.userID)
            let failed = try await h.client.pay(
                failingOrder, method: "tok_processingError", headers: [.idempotencyKey: "k-error"])
            #expect(failed.status == .badGateway)
            let again = try await h.client.pay(
                failingOrder, method: "tok_processingError", headers: [.idempotencyKey: "k-error"])
            #expect(again.status == .badGateway)
            #expect(again.headers[.idempotentReplayed] == nil)
            #expect(try await h.client.attemptSummary(failingOrder) == ["charge/failed", "charge/failed"])
        }
    }
}
