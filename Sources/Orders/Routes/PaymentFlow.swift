import Foundation
import Logging
import MeridianKit

/// The provider did not answer (unreachable, timed out, or its answer was lost): money may or may not have moved.
struct PaymentOutcomeUnknown: Error {}

/// Runs charges and refunds through the repository's reserve → provider → record protocol, and resumes
/// abandoned attempts. The provider is only ever called outside a database transaction.
struct PaymentFlow: Sendable {
    let repository: any OrderRepository
    let provider: any PaymentProvider
    let metrics: ServiceMetrics

    /// Charges a pending order's total. Returns the finished attempt, whatever the provider said.
    func charge(orderID: String, paymentMethod: String, logger: Logger) async throws -> RecordedPayment {
        let reserved = try await settlingAbandoned(orderID: orderID, logger: logger) {
            try await repository.reserveCharge(orderID: orderID, paymentMethod: paymentMethod, now: Date())
        }
        return try await execute(reserved, logger: logger)
    }

    /// Refunds a paid order's charge, if the order is still at `expectedVersion`.
    func refund(orderID: String, expectedVersion: Int64, logger: Logger) async throws -> RecordedPayment {
        let reserved = try await settlingAbandoned(orderID: orderID, logger: logger) {
            try await repository.reserveRefund(orderID: orderID, expectedVersion: expectedVersion, now: Date())
        }
        return try await execute(reserved, logger: logger)
    }

    /// Runs `change`; if an abandoned attempt stands in its way, finishes that attempt first (asking the
    /// provider again under the attempt's own idempotency key) and runs `change` once more.
    func settlingAbandoned<T: Sendable>(
        orderID: String, logger: Logger, _ change: () async throws -> T
    ) async throws -> T {
        do {
            return try await change()
        } catch OrderStoreError.paymentInProgress(abandoned: true) {
            if let claimed = try await repository.claimAbandonedAttempt(orderID: orderID, now: Date()) {
                logger.notice(
                    "resuming an abandoned payment attempt",
                    metadata: ["order_id": .string(orderID), "payment_attempt_id": .string(claimed.attempt.id)])
                _ = try await execute(claimed, logger: logger)
            }
            return try await change()
        }
    }

    private func execute(_ reserved: ReservedPayment, logger: Logger) async throws -> RecordedPayment {
        let attempt = reserved.attempt
        // Decided before the call, so that only the provider's own failures count as "no answer".
        let call: () async throws -> PaymentResult
        switch attempt.kind {
        case .charge:
            let request = ChargeRequest(
                amount: attempt.amount, paymentMethod: attempt.paymentMethod, idempotencyKey: attempt.id)
            call = { try await provider.charge(request) }
        case .refund:
            guard let chargeReference = reserved.chargeReference else {
                throw StoredDataInconsistent(detail: "refund \(attempt.id) has no charge to refund")
            }
            let request = RefundRequest(
                chargeReference: chargeReference, amount: attempt.amount, idempotencyKey: attempt.id)
            call = { try await provider.refund(request) }
        }
        let result: PaymentResult
        do {
            result = try await call()
        } catch {
            // The attempt stays processing (nothing else may touch the order) but its lease ends now, so the
            // next request resumes it with the same idempotency key instead of waiting for the lease.
            logger.warning(
                "payment provider gave no answer",
                metadata: ["order_id": .string(attempt.orderID), "payment_attempt_id": .string(attempt.id)])
            try? await repository.releaseAttempt(attemptID: attempt.id, now: Date())
            throw PaymentOutcomeUnknown()
        }
        let recorded = try await repository.recordOutcome(attemptID: attempt.id, result: result, now: Date())
        metrics.counter(
            "orders_payment_attempts", help: OrderMetrics.paymentAttemptsHelp,
            labels: [("kind", attempt.kind.rawValue), ("status", recorded.attempt.status.rawValue)]
        ).increment()
        logger.info(
            "payment attempt finished",
            metadata: [
                "order_id": .string(attempt.orderID), "payment_attempt_id": .string(attempt.id),
                "kind": .string(attempt.kind.rawValue), "status": .string(recorded.attempt.status.rawValue),
            ])
        return recorded
    }
}
