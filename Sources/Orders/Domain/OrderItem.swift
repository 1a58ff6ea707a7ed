/// One line of an order: a product, how many, and what one costs in the order's currency.
public struct OrderItem: Sendable, Hashable, Codable {
    public var sku: String
    public var name: String
    public var quantity: Int64
    /// Price of one unit in minor units.
    public var unitPrice: Int64

    public init(sku: String, name: String, quantity: Int64, unitPrice: Int64) {
        self.sku = sku
        self.name = name
        self.quantity = quantity
        self.unitPrice = unitPrice
    }

    enum CodingKeys: String, CodingKey {
        case sku, name, quantity
        case unitPrice = "unit_price"
    }

    /// quantity × unit price, refusing to wrap around.
    public func lineTotal() throws(MoneyOverflow) -> Int64 {
        let (product, overflow) = quantity.multipliedReportingOverflow(by: unitPrice)
        if overflow { throw MoneyOverflow() }
        return product
    }
}
