import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Synchronization
import Testing

@testable import Orders

/// A payment whose process died or whose provider answer was lost stays `processing`. While its lease runs it
/// blocks every change to the order; afterwards the next request resumes it under the same idempotency key, so
/// the provider reports the first outcome instead of charging again.
@Suite struct AbandonedPaymentTests {
    /// What a crash between reservation and outcome leaves behind, reserved `age` ago.
    func crashedReservation(_ h: OrdersHarness, orderID: String, method: String, age: TimeInterval) async throws
        -> ReservedPayment
    {
        try await h.service.repository.reserveCharge(
            orderID: orderID, paymentMethod: method, now: Date().addingTimeInterval(-age))
    }

    @Test(arguments: TestDatabase.engines)
    func aPaymentInProgressBlocksEveryChange(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            _ = try await crashedReservation(h, orderID: id, method: "tok_visa", age: 0)

            for response in [
                try await h.client.pay(id), try await h.client.put(id, ["items": [item(quantity: 9)]]),
                try await h.client.delete(id),
            ] {
                #expect(response.status == .conflict)
                #expect(try problemType(response) == "https://meridian.dev/problems/payment-in-progress")
                #expect(response.headers[.retryAfter] != nil)
            }
            // Only finished attempts are shown.
            #expect(try await h.client.attemptSummary(id).isEmpty)
            #expect(try await h.client.status(ofOrder: id) == "pending")
            #expect(h.provider.chargeCount == 0)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func anAbandonedChargeIsResumedBeforeAnythingElse(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            let crashed = try await crashedReservation(h, orderID: id, method: "tok_visa", age: 3600)

            // The resumed charge succeeds, so the order is paid and the new payment is refused.
            let response = try await h.client.pay(id, method: "tok_visa")
            #expect(response.status == .conflict)
            #expect(try object(response)["current_status"] as? String == "paid")
            let attempts = try listed(try await h.client.get("/api/orders/\(id)/payments"))
            #expect(attempts.map { $0["id"] as? String } == [crashed.attempt.id])
            #expect(attempts.first?["status"] as? String == "succeeded")
            #expect(h.provider.chargeCount == 1)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func anAbandonedDeclineNoLongerBlocksTheOrder(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            _ = try await crashedReservation(h, orderID: id, method: "tok_chargeDeclined", age: 3600)

            let response = try await h.client.pay(id, method: "tok_visa")
            #expect(response.status == .created)
            #expect(try await h.client.attemptSummary(id) == ["charge/declined", "charge/succeeded"])
            #expect(try await h.client.status(ofOrder: id) == "paid")
            #expect(h.provider.chargeCount == 1)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func cancellingFirstSettlesAnAbandonedCharge(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            _ = try await crashedReservation(h, orderID: id, method: "tok_visa", age: 3600)

            // The money moved before the crash: cancelling now would lose it, so the DELETE learns that the
            // order was paid in the meantime and is refused; the next DELETE refunds it.
            let first = try await h.client.delete(id, ifMatch: "\"v1\"")
            #expect(first.status == .conflict)
            #expect(try await h.client.status(ofOrder: id) == "paid")
            let second = try await h.client.delete(id)
            #expect(second.status == .ok)
            #expect(try object(second)["status"] as? String == "refunded")
            #expect(h.provider.chargeCount == 1)
            #expect(h.provider.refundCount == 1)
        }
    }

    /// The provider charged the card but its answer never arrived.
    @Test(arguments: TestDatabase.engines)
    func aLostProviderAnswerIsRecoveredWithoutChargingTwice(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine, paymentProvider: { LosesFirstAnswer(wrapping: $0) }) { h in
            let id = try await h.client.placedOrderID(userID: h.userID)
            let lost = try await h.client.pay(id)
            #expect(lost.status == .badGateway)
            #expect(try problemType(lost) == "https://meridian.dev/problems/payment-processing-error")
            #expect(h.provider.chargeCount == 1)

            let retry = try await h.client.pay(id)
            #expect(retry.status == .conflict)
            #expect(try object(retry)["current_status"] as? String == "paid")
            #expect(try await h.client.attemptSummary(id) == ["charge/succeeded"])
            #expect(h.provider.chargeCount == 1)
        }
    }
}

/// Fault injection around the real test provider: the first call reaches it (and charges) but its answer is
/// lost on the way back, as when a connection drops mid-response.
final class LosesFirstAnswer: PaymentProvider {
    struct AnswerLost: Error {}

    let wrapped: TestPaymentProvider
    private let calls = Atomic<Int>(0)

    init(wrapping wrapped: TestPaymentProvider) {
        self.wrapped = wrapped
    }

    func problem(withPaymentMethod paymentMethod: String) -> String? {
        wrapped.problem(withPaymentMethod: paymentMethod)
    }

    func charge(_ request: ChargeRequest) async throws -> PaymentResult {
        let result = try await wrapped.charge(request)
        if calls.add(1, ordering: .relaxed).oldValue == 0 { throw AnswerLost() }
        return result
    }

    func refund(_ request: RefundRequest) async throws -> PaymentResult {
        try await wrapped.refund(request)
    }
}
