import Foundation

/// The JSON of an order as the API shows it.
struct OrderResource: Encodable, Sendable {
    let order: Order

    enum CodingKeys: String, CodingKey {
        case id, status, currency, items, total, version
        case userID = "user_id"
        case shippingAddress = "shipping_address"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(order.id, forKey: .id)
        try container.encode(order.userID, forKey: .userID)
        try container.encode(order.status.rawValue, forKey: .status)
        try container.encode(order.currency.code, forKey: .currency)
        try container.encode(order.items, forKey: .items)
        try container.encode(order.total.minorUnits, forKey: .total)
        try container.encode(order.shippingAddress, forKey: .shippingAddress)
        try container.encode(order.version, forKey: .version)
        try container.encode(order.createdAt, forKey: .createdAt)
        try container.encode(order.updatedAt, forKey: .updatedAt)
    }
}

/// The JSON of a payment attempt as the API shows it; nullable members are always present.
struct PaymentAttemptResource: Encodable, Sendable {
    let attempt: PaymentAttempt

    enum CodingKeys: String, CodingKey {
        case id, kind, status, amount, currency
        case orderID = "order_id"
        case paymentMethod = "payment_method"
        case providerReference = "provider_reference"
        case failureReason = "failure_reason"
        case createdAt = "created_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(attempt.id, forKey: .id)
        try container.encode(attempt.orderID, forKey: .orderID)
        try container.encode(attempt.kind.rawValue, forKey: .kind)
        try container.encode(attempt.status.rawValue, forKey: .status)
        try container.encode(attempt.amount.minorUnits, forKey: .amount)
        try container.encode(attempt.amount.currency.code, forKey: .currency)
        try container.encode(attempt.paymentMethod, forKey: .paymentMethod)
        try container.encode(attempt.providerReference, forKey: .providerReference)
        try container.encode(attempt.failureReason, forKey: .failureReason)
        try container.encode(attempt.createdAt, forKey: .createdAt)
    }
}
