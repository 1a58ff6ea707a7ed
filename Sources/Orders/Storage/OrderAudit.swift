import Foundation
import MeridianKit
import SQLKit

/// The audit records of the orders service: one per mutating transaction, appended in that transaction, with
/// the caller of the request (or the service itself for background work) as actor. Change sets hold the new
/// values; the audit log stores them encrypted.
public struct OrderAudit: Sendable {
    let log: AuditLog

    public init(log: AuditLog) {
        self.log = log
    }

    func created(_ order: Order, on sql: any SQLDatabase) async throws {
        var changes = OrderAudit.contents(of: order)
        changes["status"] = .string(order.status.rawValue)
        changes["user_id"] = .string(order.userID)
        changes["version"] = .integer(order.version)
        try await log.append(
            AuditEvent(action: "order.create", resourceType: "order", resourceID: order.id, changes: .object(changes)),
            on: sql)
    }

    /// An update through `PUT` or a cancellation; the action says which.
    func changed(from stored: Order, to updated: Order, on sql: any SQLDatabase) async throws {
        var changes: [String: JSONValue] = ["version": .integer(updated.version)]
        if stored.status != updated.status {
            changes["status"] = .object(["from": .string(stored.status.rawValue), "to": .string(updated.status.rawValue)])
        }
        let before = OrderAudit.contents(of: stored)
        for (field, value) in OrderAudit.contents(of: updated) where before[field] != value {
            changes[field] = value
        }
        let action = updated.status == .cancelled && stored.status != .cancelled ? "order.cancel" : "order.update"
        try await log.append(
            AuditEvent(action: action, resourceType: "order", resourceID: updated.id, changes: .object(changes)),
            on: sql)
    }

    /// A charge or refund reserved: the processing attempt that guards against paying twice.
    func paymentReserved(_ attempt: PaymentAttempt, on sql: any SQLDatabase) async throws {
        try await log.append(
            AuditEvent(
                action: "payment.reserve", resourceType: "payment_attempt", resourceID: attempt.id,
                changes: .object([
                    "order_id": .string(attempt.orderID), "kind": .string(attempt.kind.rawValue),
                    "amount_minor": .integer(attempt.amount.minorUnits),
                    "currency": .string(attempt.amount.currency.code),
                ])),
            on: sql)
    }

    /// An abandoned attempt taken over by this request (its lease renewed).
    func paymentResumed(_ attempt: PaymentAttempt, on sql: any SQLDatabase) async throws {
        try await log.append(
            AuditEvent(
                action: "payment.resume", resourceType: "payment_attempt", resourceID: attempt.id,
                changes: .object(["order_id": .string(attempt.orderID), "kind": .string(attempt.kind.rawValue)])),
            on: sql)
    }

    /// The provider gave no answer; the attempt's lease ends so the next request resumes it.
    func paymentReleased(attemptID: String, on sql: any SQLDatabase) async throws {
        try await log.append(
            AuditEvent(action: "payment.release", resourceType: "payment_attempt", resourceID: attemptID, outcome: .failure),
            on: sql)
    }

    /// The provider's answer: `order.pay` for a charge, `order.refund` for a refund, a failure unless it
    /// succeeded (the order then moved to paid or refunded).
    func paymentRecorded(_ attempt: PaymentAttempt, order: Order, previousStatus: OrderStatus, on sql: any SQLDatabase)
        async throws
    {
        var changes: [String: JSONValue] = [
            "payment_attempt_id": .string(attempt.id), "attempt_status": .string(attempt.status.rawValue),
            "amount_minor": .integer(attempt.amount.minorUnits), "currency": .string(attempt.amount.currency.code),
        ]
        if let reason = attempt.failureReason { changes["failure_reason"] = .string(reason) }
        if order.status != previousStatus {
            changes["status"] = .object(["from": .string(previousStatus.rawValue), "to": .string(order.status.rawValue)])
            changes["version"] = .integer(order.version)
        }
        try await log.append(
            AuditEvent(
                action: attempt.kind == .charge ? "order.pay" : "order.refund", resourceType: "order",
                resourceID: order.id, outcome: attempt.status == .succeeded ? .success : .failure,
                changes: .object(changes)),
            on: sql)
    }

    /// Items, address and total as change-set values.
    static func contents(of order: Order) -> [String: JSONValue] {
        let address = order.shippingAddress
        var addressFields: [String: JSONValue] = [
            "name": .string(address.name), "line1": .string(address.line1), "city": .string(address.city),
            "postal_code": .string(address.postalCode), "country": .string(address.country.code),
        ]
        if let line2 = address.line2 { addressFields["line2"] = .string(line2) }
        if let region = address.region { addressFields["region"] = .string(region) }
        return [
            "items": .array(
                order.items.map { item in
                    .object([
                        "sku": .string(item.sku), "name": .string(item.name), "quantity": .integer(item.quantity),
                        "unit_price_minor": .integer(item.unitPrice),
                    ])
                }),
            "shipping_address": .object(addressFields),
            "total_minor": .integer(order.total.minorUnits),
            "currency": .string(order.currency.code),
        ]
    }
}
