import Foundation
import MeridianKit
import SQLKit

/// Converts between domain values and the columns of `orders` and `payment_attempts`.
enum OrderRows {
    static let orderColumns = [
        "id", "user_id", "status", "currency", "total", "items", "shipping_address", "version", "created_at",
        "updated_at",
    ]

    static func values(of order: Order) throws -> [any SQLExpression] {
        [
            SQLBind(order.id), SQLBind(order.userID), SQLBind(order.status.rawValue), SQLBind(order.currency.code),
            SQLBind(order.total.minorUnits), SQLBind(try json(order.items)), SQLBind(try json(order.shippingAddress)),
            SQLBind(order.version), SQLBind(Timestamp.micros(order.createdAt)),
            SQLBind(Timestamp.micros(order.updatedAt)),
        ]
    }

    static func order(from row: any SQLRow) throws -> Order {
        let id = try row.decode(column: "id", as: String.self)
        let statusText = try row.decode(column: "status", as: String.self)
        guard let status = OrderStatus(rawValue: statusText) else {
            throw StoredDataInconsistent(detail: "order \(id) has unknown status \(statusText)")
        }
        let currency = Currency(storedCode: try row.decode(column: "currency", as: String.self))
        let decoder = JSONDecoder()
        return Order(
            id: id,
            userID: try row.decode(column: "user_id", as: String.self),
            status: status,
            items: try decoder.decode(
                [OrderItem].self, from: Data(try row.decode(column: "items", as: String.self).utf8)),
            shippingAddress: try decoder.decode(
                ShippingAddress.self, from: Data(try row.decode(column: "shipping_address", as: String.self).utf8)),
            total: Money(minorUnits: try row.decode(column: "total", as: Int64.self), currency: currency),
            version: try row.decode(column: "version", as: Int64.self),
            createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Timestamp.date(micros: try row.decode(column: "updated_at", as: Int64.self)))
    }

    static let attemptColumns = [
        "id", "order_id", "kind", "status", "amount", "currency", "payment_method", "provider_reference",
        "failure_reason", "lease_expires_at", "created_at", "updated_at",
    ]

    static func values(of attempt: PaymentAttempt, leaseExpiresAt: Int64?) -> [any SQLExpression] {
        [
            SQLBind(attempt.id), SQLBind(attempt.orderID), SQLBind(attempt.kind.rawValue),
            SQLBind(attempt.status.rawValue), SQLBind(attempt.amount.minorUnits), SQLBind(attempt.amount.currency.code),
            SQLBind(attempt.paymentMethod), SQLBind(attempt.providerReference), SQLBind(attempt.failureReason),
            SQLBind(leaseExpiresAt), SQLBind(Timestamp.micros(attempt.createdAt)),
            SQLBind(Timestamp.micros(attempt.createdAt)),
        ]
    }

    static func attempt(from row: any SQLRow) throws -> PaymentAttempt {
        let id = try row.decode(column: "id", as: String.self)
        let kindText = try row.decode(column: "kind", as: String.self)
        let statusText = try row.decode(column: "status", as: String.self)
        guard let kind = PaymentAttempt.Kind(rawValue: kindText),
            let status = PaymentAttempt.Status(rawValue: statusText)
        else {
            throw StoredDataInconsistent(detail: "payment attempt \(id) has kind \(kindText), status \(statusText)")
        }
        return PaymentAttempt(
            id: id,
            orderID: try row.decode(column: "order_id", as: String.self),
            kind: kind,
            status: status,
            amount: Money(
                minorUnits: try row.decode(column: "amount", as: Int64.self),
                currency: Currency(storedCode: try row.decode(column: "currency", as: String.self))),
            paymentMethod: try row.decode(column: "payment_method", as: String.self),
            providerReference: try row.decode(column: "provider_reference", as: String?.self),
            failureReason: try row.decode(column: "failure_reason", as: String?.self),
            createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)))
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// Stored data that breaks an invariant the schema cannot express. It means a bug or manual tampering, and is
/// answered with a 500 rather than guessed around.
struct StoredDataInconsistent: Error, CustomStringConvertible {
    let detail: String
    var description: String { "stored data is inconsistent: \(detail)" }
}
