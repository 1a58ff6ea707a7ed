/// An amount in integer minor units of one currency (cents for EUR, yen for JPY). Money never passes through
/// floating point, and arithmetic on it refuses to wrap around.
public struct Money: Sendable, Hashable {
    public let minorUnits: Int64
    public let currency: Currency

    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    /// What the items cost together: Σ quantity × unit price.
    public static func total(of items: [OrderItem], in currency: Currency) throws(MoneyOverflow) -> Money {
        var sum: Int64 = 0
        for item in items {
            let (next, overflow) = sum.addingReportingOverflow(try item.lineTotal())
            if overflow { throw MoneyOverflow() }
            sum = next
        }
        return Money(minorUnits: sum, currency: currency)
    }
}

/// An amount that does not fit in 64 bits of minor units. The request limits keep real orders far below it;
/// this is the guarantee that a total is never silently wrong.
public struct MoneyOverflow: Error, Sendable, Equatable {
    public init() {}
}
