import Foundation
import MeridianKit

/// Where orders and their payment attempts are kept. Orders are never deleted; every change bumps `version`.
///
/// Payments follow one protocol that guarantees a single charge (and a single refund) per order:
/// 1. `reserveCharge` / `reserveRefund` store a `processing` attempt in a transaction that checks the order's
///    status and that no other attempt is processing; that attempt holds a lease.
/// 2. The caller asks the provider, outside any transaction, with the attempt id as idempotency key.
/// 3. `recordOutcome` stores the answer and moves the order (paid, refunded) in one transaction.
/// While an attempt is processing, every other change to the order is refused. An attempt whose lease ran out
/// (its process died, or the provider's answer was lost) is "abandoned": `claimAbandonedAttempt` hands it to
/// the next request, which repeats step 2 with the same idempotency key and so learns the outcome instead of
/// paying twice.
public protocol OrderRepository: Sendable {
    func insert(_ order: Order) async throws
    func order(id: String) async throws -> Order?
    /// Up to `page.limit + 1` orders after the page's cursor in id order, so the caller knows if more follow.
    func orders(userID: String?, status: OrderStatus?, page: PageRequest) async throws -> [Order]

    /// Stores `order`'s status, items, address and total as version `expectedVersion + 1`, if the stored order is
    /// still at `expectedVersion` (else `ConcurrentUpdateError`) and no payment is processing.
    func update(_ order: Order, expectedVersion: Int64, now: Date) async throws -> Order

    /// The order's finished attempts, oldest first.
    func paymentAttempts(orderID: String) async throws -> [PaymentAttempt]
    func reserveCharge(orderID: String, paymentMethod: String, now: Date) async throws -> ReservedPayment
    /// Reserves the refund of the order's charge, if the order is paid and still at `expectedVersion`.
    func reserveRefund(orderID: String, expectedVersion: Int64, now: Date) async throws -> ReservedPayment
    /// Takes over the order's abandoned attempt, if it has one, renewing its lease.
    func claimAbandonedAttempt(orderID: String, now: Date) async throws -> ReservedPayment?
    /// Finishes a processing attempt with the provider's answer and, on success, moves the order.
    func recordOutcome(attemptID: String, result: PaymentResult, now: Date) async throws -> RecordedPayment
    /// Ends the lease of an attempt whose outcome is unknown, so the next request resumes it at once.
    func releaseAttempt(attemptID: String, now: Date) async throws
}

/// A processing attempt this request holds the lease on.
public struct ReservedPayment: Sendable, Equatable {
    public let attempt: PaymentAttempt
    /// For a refund: the provider reference of the charge it gives back.
    public let chargeReference: String?

    public init(attempt: PaymentAttempt, chargeReference: String?) {
        self.attempt = attempt
        self.chargeReference = chargeReference
    }
}

/// A finished attempt and the order as it stands after it.
public struct RecordedPayment: Sendable, Equatable {
    public let attempt: PaymentAttempt
    public let order: Order

    public init(attempt: PaymentAttempt, order: Order) {
        self.attempt = attempt
        self.order = order
    }
}

/// Why the repository refused a change; routes turn these into 404 and 409 problems.
public enum OrderStoreError: Error, Sendable, Equatable {
    case orderNotFound
    /// The order is not in the status the change needs.
    case wrongStatus(current: OrderStatus)
    /// A payment attempt is processing; `abandoned` when its lease has run out and it can be resumed.
    case paymentInProgress(abandoned: Bool)
}
