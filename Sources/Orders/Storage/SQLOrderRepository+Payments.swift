import Foundation
import MeridianKit
import SQLKit

/// The payment half of the repository: reserve, record, resume. See `OrderRepository` for the protocol.
extension SQLOrderRepository {
    public func paymentAttempts(orderID: String) async throws -> [PaymentAttempt] {
        try await database.read { sql in
            try await sql.select().column("*").from("payment_attempts")
                .where("order_id", .equal, SQLBind(orderID))
                .where("status", .notEqual, SQLBind(PaymentAttempt.Status.processing.rawValue))
                .orderBy("created_at").orderBy("id")
                .all().map { try OrderRows.attempt(from: $0, cipher: cipher) }
        }
    }

    public func reserveCharge(orderID: String, paymentMethod: String, now: Date) async throws -> ReservedPayment {
        try await database.transaction { sql in
            guard let order = try await lockOrder(orderID, sql) else { throw OrderStoreError.orderNotFound }
            try await refuseWhilePaymentProcessing(orderID, now: now, sql)
            guard OrderStateMachine.next(from: order.status, on: .pay) != nil else {
                throw OrderStoreError.wrongStatus(current: order.status)
            }
            let attempt = PaymentAttempt(
                id: Identifier.make(prefix: "pay", now: now), orderID: orderID, kind: .charge, status: .processing,
                amount: order.total, paymentMethod: paymentMethod, providerReference: nil, failureReason: nil,
                createdAt: now)
            try await insertProcessing(attempt, now: now, sql)
            try await audit?.paymentReserved(attempt, on: sql)
            return ReservedPayment(attempt: attempt, chargeReference: nil)
        }
    }

    public func reserveRefund(orderID: String, expectedVersion: Int64, now: Date) async throws -> ReservedPayment {
        try await database.transaction { sql in
            guard let order = try await lockOrder(orderID, sql) else { throw OrderStoreError.orderNotFound }
            try await refuseWhilePaymentProcessing(orderID, now: now, sql)
            guard order.version == expectedVersion else { throw ConcurrentUpdateError() }
            guard OrderStateMachine.next(from: order.status, on: .refund) != nil else {
                throw OrderStoreError.wrongStatus(current: order.status)
            }
            let charge = try await succeededCharge(of: orderID, sql)
            let attempt = PaymentAttempt(
                id: Identifier.make(prefix: "pay", now: now), orderID: orderID, kind: .refund, status: .processing,
                amount: charge.attempt.amount, paymentMethod: charge.attempt.paymentMethod, providerReference: nil,
                failureReason: nil, createdAt: now)
            try await insertProcessing(attempt, now: now, sql)
            try await audit?.paymentReserved(attempt, on: sql)
            return ReservedPayment(attempt: attempt, chargeReference: charge.reference)
        }
    }

    public func claimAbandonedAttempt(orderID: String, now: Date) async throws -> ReservedPayment? {
        try await database.transaction { sql in
            guard try await lockOrder(orderID, sql) != nil else { throw OrderStoreError.orderNotFound }
            guard let row = try await processingAttemptRow(orderID, sql),
                try row.decode(column: "lease_expires_at", as: Int64?.self) ?? 0 <= Timestamp.micros(now)
            else { return nil }
            let attempt = try OrderRows.attempt(from: row, cipher: cipher)
            try await sql.update("payment_attempts")
                .set("lease_expires_at", to: SQLBind(leaseEnd(from: now)))
                .set("updated_at", to: SQLBind(Timestamp.micros(now)))
                .where("id", .equal, SQLBind(attempt.id))
                .run()
            let chargeReference = attempt.kind == .refund ? try await succeededCharge(of: orderID, sql).reference : nil
            try await audit?.paymentResumed(attempt, on: sql)
            return ReservedPayment(attempt: attempt, chargeReference: chargeReference)
        }
    }

    public func recordOutcome(attemptID: String, result: PaymentResult, now: Date) async throws -> RecordedPayment {
        let status: PaymentAttempt.Status
        let failureReason: String?
        switch result.outcome {
        case .succeeded: (status, failureReason) = (.succeeded, nil)
        case .declined(let reason): (status, failureReason) = (.declined, reason)
        case .failed(let reason): (status, failureReason) = (.failed, reason)
        }
        // With whether this call moved the order on (a resumed request that lost the race did not).
        let (recorded, advanced) = try await database.transaction { sql in
            let orderID = try await attemptRow(attemptID, sql).decode(column: "order_id", as: String.self)
            guard var order = try await lockOrder(orderID, sql) else {
                throw StoredDataInconsistent(detail: "payment attempt \(attemptID) belongs to no order")
            }
            let updated = try await sql.update("payment_attempts")
                .set("status", to: SQLBind(status.rawValue))
                .set("provider_reference", to: SQLBind(try OrderRows.sealedAttemptField(
                    result.providerReference, column: "provider_reference", attemptID: attemptID, cipher: cipher)))
                .set("failure_reason", to: SQLBind(try OrderRows.sealedAttemptField(
                    failureReason, column: "failure_reason", attemptID: attemptID, cipher: cipher)))
                .set("lease_expires_at", to: SQLLiteral.null)
                .set("updated_at", to: SQLBind(Timestamp.micros(now)))
                .where("id", .equal, SQLBind(attemptID))
                .where("status", .equal, SQLBind(PaymentAttempt.Status.processing.rawValue))
                .returning("*")
                .first()
            guard let updated else {
                // A request that resumed this attempt recorded the provider's answer first (the provider gave
                // both the same answer, under the same idempotency key): report what is stored.
                let stored = try OrderRows.attempt(from: try await attemptRow(attemptID, sql), cipher: cipher)
                return (RecordedPayment(attempt: stored, order: order), false)
            }
            let attempt = try OrderRows.attempt(from: updated, cipher: cipher)
            let statusBefore = order.status
            if attempt.status == .succeeded {
                let event: OrderEvent = attempt.kind == .charge ? .pay : .refund
                // A processing attempt blocks every other change, so the order is still where the reservation
                // found it; anything else is a broken invariant.
                guard let next = OrderStateMachine.next(from: order.status, on: event) else {
                    throw StoredDataInconsistent(
                        detail: "order \(orderID) is \(order.status.rawValue) after a successful \(event.rawValue)")
                }
                let previous = order.status
                order.status = next
                order.updatedAt = now
                order = try await advanceStatus(order, sql)
                try await events?.statusChanged(from: previous, to: order, on: sql)
            }
            try await audit?.paymentRecorded(attempt, order: order, previousStatus: statusBefore, on: sql)
            return (RecordedPayment(attempt: attempt, order: order), order.status != statusBefore)
        }
        if advanced { metrics?.entered(recorded.order.status) }
        return recorded
    }

    public func releaseAttempt(attemptID: String, now: Date) async throws {
        try await database.transaction { sql in
            let released = try await sql.update("payment_attempts")
                .set("lease_expires_at", to: SQLBind(Timestamp.micros(now)))
                .where("id", .equal, SQLBind(attemptID))
                .where("status", .equal, SQLBind(PaymentAttempt.Status.processing.rawValue))
                .returning("id")
                .first()
            if released != nil { try await audit?.paymentReleased(attemptID: attemptID, on: sql) }
        }
    }

    // MARK: - Helpers inside a transaction

    private func leaseEnd(from now: Date) -> Int64 {
        Timestamp.micros(now) + paymentLease.components.seconds * 1_000_000
            + paymentLease.components.attoseconds / 1_000_000_000_000
    }

    /// Stores a new processing attempt. The unique index on processing attempts backs up the checks made
    /// before: if they were ever bypassed, the loser of the race still gets a 409, never a second charge.
    private func insertProcessing(_ attempt: PaymentAttempt, now: Date, _ sql: any SQLDatabase) async throws {
        do {
            try await sql.insert(into: "payment_attempts").columns(OrderRows.attemptColumns)
                .values(try OrderRows.values(of: attempt, leaseExpiresAt: leaseEnd(from: now), cipher: cipher))
                .run()
        } catch let error where UniqueConstraintViolation.matches(error) {
            throw OrderStoreError.paymentInProgress(abandoned: false)
        }
    }

    private func attemptRow(_ id: String, _ sql: any SQLDatabase) async throws -> any SQLRow {
        let row = try await sql.select().column("*").from("payment_attempts").where("id", .equal, SQLBind(id)).first()
        guard let row else { throw StoredDataInconsistent(detail: "payment attempt \(id) does not exist") }
        return row
    }

    /// The order's successful charge and its provider reference: what a refund gives back.
    private func succeededCharge(
        of orderID: String, _ sql: any SQLDatabase
    ) async throws -> (attempt: PaymentAttempt, reference: String) {
        let row = try await sql.select().column("*").from("payment_attempts")
            .where("order_id", .equal, SQLBind(orderID))
            .where("kind", .equal, SQLBind(PaymentAttempt.Kind.charge.rawValue))
            .where("status", .equal, SQLBind(PaymentAttempt.Status.succeeded.rawValue))
            .first()
        guard let row, case let attempt = try OrderRows.attempt(from: row, cipher: cipher),
            let reference = attempt.providerReference
        else { throw StoredDataInconsistent(detail: "order \(orderID) is paid but has no successful charge") }
        return (attempt, reference)
    }

    /// Stores a locked order's new status as its next version.
    private func advanceStatus(_ order: Order, _ sql: any SQLDatabase) async throws -> Order {
        let expectedVersion = order.version
        let row = try await sql.update("orders")
            .set("status", to: SQLBind(order.status.rawValue))
            .set("version", to: SQLBind(expectedVersion + 1))
            .set("updated_at", to: SQLBind(Timestamp.micros(order.updatedAt)))
            .where("id", .equal, SQLBind(order.id))
            .where("version", .equal, SQLBind(expectedVersion))
            .returning("*")
            .first()
        guard let row else { throw ConcurrentUpdateError() }
        return try OrderRows.order(from: row, cipher: cipher)
    }
}
