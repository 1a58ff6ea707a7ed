import Foundation
import MeridianKit
import SQLKit

/// Converts between domain values and the columns of `orders` and `payment_attempts`. Everything the customer
/// or the payment provider supplied (items, address, payment method, provider reference, failure reason) is
/// `FieldCipher` ciphertext; ids, status, amounts, currency, versions and times stay plaintext.
enum OrderRows {
    static let encryptedColumns: [EncryptedColumn] = [
        EncryptedColumn(table: "orders", column: "items"),
        EncryptedColumn(table: "orders", column: "shipping_address"),
        EncryptedColumn(table: "payment_attempts", column: "payment_method"),
        EncryptedColumn(table: "payment_attempts", column: "provider_reference"),
        EncryptedColumn(table: "payment_attempts", column: "failure_reason"),
    ]

    /// A JSON document of an order, sealed for its column.
    static func sealed(_ value: some Encodable, column: String, orderID: String, cipher: FieldCipher) throws -> Data {
        try cipher.seal(json(value), table: "orders", column: column, rowID: orderID)
    }

    static func sealedAttemptField(_ value: String?, column: String, attemptID: String, cipher: FieldCipher) throws
        -> Data?
    {
        try value.map { try cipher.seal($0, table: "payment_attempts", column: column, rowID: attemptID) }
    }

    static func openAttemptField(_ row: any SQLRow, _ column: String, attemptID: String, cipher: FieldCipher) throws
        -> String?
    {
        try row.decode(column: column, as: Data?.self).map {
            try cipher.open($0, table: "payment_attempts", column: column, rowID: attemptID)
        }
    }
    static let orderColumns = [
        "id", "user_id", "status", "currency", "total", "items", "shipping_address", "version", "created_at",
        "updated_at",
    ]

    static func values(of order: Order, cipher: FieldCipher) throws -> [any SQLExpression] {
        [
            SQLBind(order.id), SQLBind(order.userID), SQLBind(order.status.rawValue), SQLBind(order.currency.code),
            SQLBind(order.total.minorUnits),
            SQLBind(try sealed(order.items, column: "items", orderID: order.id, cipher: cipher)),
            SQLBind(try sealed(order.shippingAddress, column: "shipping_address", orderID: order.id, cipher: cipher)),
            SQLBind(order.version), SQLBind(Timestamp.micros(order.createdAt)),
            SQLBind(Timestamp.micros(order.updatedAt)),
        ]
    }

    static func order(from row: any SQLRow, cipher: FieldCipher) throws -> Order {
        let id = try row.decode(column: "id", as: String.self)
        let statusText = try row.decode(column: "status", as: String.self)
        guard let status = OrderStatus(rawValue: statusText) else {
            throw StoredDataInconsistent(detail: "order \(id) has unknown status \(statusText)")
        }
        let currency = Currency(storedCode: try row.decode(column: "currency", as: String.self))
        let decoder = JSONDecoder()
        let open = { (column: String) in
            Data(try cipher.open(row.decode(column: column, as: Data.self), table: "orders", column: column, rowID: id).utf8)
        }
        return Order(
            id: id,
            userID: try row.decode(column: "user_id", as: String.self),
            status: status,
            items: try decoder.decode([OrderItem].self, from: open("items")),
            shippingAddress: try decoder.decode(ShippingAddress.self, from: open("shipping_address")),
            total: Money(minorUnits: try row.decode(column: "total", as: Int64.self), currency: currency),
            version: try row.decode(column: "version", as: Int64.self),
            createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Timestamp.date(micros: try row.decode(column: "updated_at", as: Int64.self)))
    }

    static let attemptColumns = [
        "id", "order_id", "kind", "status", "amount", "currency", "payment_method", "provider_reference",
        "failure_reason", "lease_expires_at", "created_at", "updated_at",
    ]

    static func values(of attempt: PaymentAttempt, leaseExpiresAt: Int64?, cipher: FieldCipher) throws
        -> [any SQLExpression]
    {
        let seal = { (value: String?, column: String) in
            try sealedAttemptField(value, column: column, attemptID: attempt.id, cipher: cipher)
        }
        return [
            SQLBind(attempt.id), SQLBind(attempt.orderID), SQLBind(attempt.kind.rawValue),
            SQLBind(attempt.status.rawValue), SQLBind(attempt.amount.minorUnits), SQLBind(attempt.amount.currency.code),
            SQLBind(try seal(attempt.paymentMethod, "payment_method")),
            SQLBind(try seal(attempt.providerReference, "provider_reference")),
            SQLBind(try seal(attempt.failureReason, "failure_reason")),
            SQLBind(leaseExpiresAt), SQLBind(Timestamp.micros(attempt.createdAt)),
            SQLBind(Timestamp.micros(attempt.createdAt)),
        ]
    }

    static func attempt(from row: any SQLRow, cipher: FieldCipher) throws -> PaymentAttempt {
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
            paymentMethod: try openAttemptField(row, "payment_method", attemptID: id, cipher: cipher) ?? "",
            providerReference: try openAttemptField(row, "provider_reference", attemptID: id, cipher: cipher),
            failureReason: try openAttemptField(row, "failure_reason", attemptID: id, cipher: cipher),
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
