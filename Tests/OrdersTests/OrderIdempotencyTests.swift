import Foundation
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

    /// A key belongs to the subject that sent it: another caller using the same key neither receives the first
    /// caller's response nor is refused as if it had reused a key.
    @Test(arguments: TestDatabase.engines)
    func keysAreNotSharedBetweenSubjects(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            // Two staff members send the very same request under the very same key.
            let body = orderBody(userID: h.userID)
            let first = try await h.client.createOrder(body, headers: [.idempotencyKey: "shared-key"])
            let colleague = try await h.client(as: .admin, subject: Identifier.make(prefix: "usr"))
            let second = try await colleague.createOrder(body, headers: [.idempotencyKey: "shared-key"])
            #expect(first.status == .created)
            #expect(second.status == .created)
            #expect(second.headers[.idempotentReplayed] == nil)
            #expect(second.headers[.location] != first.headers[.location])
            // Each still gets its own replay.
            let replay = try await colleague.createOrder(body, headers: [.idempotencyKey: "shared-key"])
            #expect(replay.headers[.idempotentReplayed] == "true")
            #expect(replay.body == second.body)

            // Two customers, each placing its own order under the same key: no 422 for a "different body".
            let alice = try await h.client(as: .customer, subject: h.userID)
            let bob = try await h.client(as: .customer, subject: otherUserID)
            let fromAlice = try await alice.createOrder(body, headers: [.idempotencyKey: "my-order"])
            let fromBob = try await bob.createOrder(
                orderBody(userID: otherUserID), headers: [.idempotencyKey: "my-order"])
            #expect(fromAlice.status == .created)
            #expect(fromBob.status == .created)
            #expect(try object(fromBob)["user_id"] as? String == otherUserID)
            #expect(try listed(try await h.client.get("/api/orders")).count == 4)
        }
    }

    /// Access is decided before a key is looked at: a request refused for want of a token is not remembered, so
    /// the same request with a token and the same key runs.
    @Test(arguments: TestDatabase.engines)
    func aRefusedRequestDoesNotUseUpItsKey(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let body = orderBody(userID: h.userID)
            let anonymous = try await h.client(token: nil).createOrder(body, headers: [.idempotencyKey: "first-try"])
            #expect(anonymous.status == .unauthorized)
            let expired = try await h.tokens.token(.admin, subject: adminID, issuedAt: Date().addingTimeInterval(-3600))
            let stale = try await h.client(token: expired).createOrder(body, headers: [.idempotencyKey: "first-try"])
            #expect(stale.status == .unauthorized)

            let signedIn = try await h.client.createOrder(body, headers: [.idempotencyKey: "first-try"])
            #expect(signedIn.status == .created)
            #expect(signedIn.headers[.idempotentReplayed] == nil)
            #expect(try listed(try await h.client.get("/api/orders")).count == 1)
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
