import Foundation

/// An order: what a user buys, where it goes, what it costs, and where it is in its lifecycle.
/// `version` counts stored changes; it is the order's ETag and guards every update against lost writes.
public struct Order: Sendable, Equatable {
    public let id: String
    public let userID: String
    public var status: OrderStatus
    public private(set) var items: [OrderItem]
    public var shippingAddress: ShippingAddress
    /// Always the sum of the items; only `replaceItems` changes both together.
    public private(set) var total: Money
    public var version: Int64
    public let createdAt: Date
    public var updatedAt: Date

    public var currency: Currency { total.currency }

    /// Restores an order exactly as it was stored.
    public init(
        id: String, userID: String, status: OrderStatus, items: [OrderItem], shippingAddress: ShippingAddress,
        total: Money, version: Int64, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.userID = userID
        self.status = status
        self.items = items
        self.shippingAddress = shippingAddress
        self.total = total
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// A new pending order at version 1, its total computed from its items.
    public static func place(
        id: String, userID: String, currency: Currency, items: [OrderItem], shippingAddress: ShippingAddress,
        now: Date
    ) throws(MoneyOverflow) -> Order {
        Order(
            id: id, userID: userID, status: .pending, items: items, shippingAddress: shippingAddress,
            total: try Money.total(of: items, in: currency), version: 1, createdAt: now, updatedAt: now)
    }

    /// Replaces the items wholesale and recomputes the total in the order's currency.
    public mutating func replaceItems(_ newItems: [OrderItem]) throws(MoneyOverflow) {
        total = try Money.total(of: newItems, in: currency)
        items = newItems
    }
}
