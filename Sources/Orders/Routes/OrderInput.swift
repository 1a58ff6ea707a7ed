import MeridianKit

/// The body of `POST /api/orders`, validated.
struct NewOrderInput {
    let userID: String
    let currency: Currency
    let items: [OrderItem]
    let shippingAddress: ShippingAddress
}

/// The body of `PUT /api/orders/{id}`, validated: what to change (at least one member).
struct OrderChangeInput {
    let items: [OrderItem]?
    let shippingAddress: ShippingAddress?
    let status: OrderStatus?
}

/// Reads order bodies field by field, reporting every invalid and unknown field with its path
/// (`items[1].quantity`, `shipping_address.country`).
enum OrderInput {
    static let maxItems = 100
    static let quantities: ClosedRange<Int64> = 1...10_000
    static let unitPrices: ClosedRange<Int64> = 1...100_000_000

    static func newOrder(_ body: inout FieldReader) throws -> NewOrderInput {
        let userID = body.string("user_id", maxLength: 64)
        if let userID, !Identifier.isWellFormed(userID, prefix: "usr") {
            body.fail("user_id", "is not a user id")
        }
        let currency = readCurrency(&body)
        let items = readItems(&body)
        let address = body.object("shipping_address", readAddress)
        try body.finish()
        guard let userID, let currency, let items, let address else { throw Problem.validation(body.errors) }
        return NewOrderInput(userID: userID, currency: currency, items: items, shippingAddress: address)
    }

    static func change(_ body: inout FieldReader) throws -> OrderChangeInput {
        let members = ["items", "shipping_address", "status"]
        let wanted = members.filter { body.has($0) }
        if wanted.isEmpty {
            body.merge([FieldError(field: "", message: "must contain at least one of items, shipping_address, status")])
        }
        let items = wanted.contains("items") ? readItems(&body) : nil
        let address = wanted.contains("shipping_address") ? body.object("shipping_address", readAddress) : nil
        var status: OrderStatus?
        if wanted.contains("status"), let text = body.string("status", maxLength: 32) {
            status = OrderStatus(rawValue: text)
            if status == nil {
                body.fail("status", "must be one of " + OrderStatus.allCases.map(\.rawValue).joined(separator: ", "))
            }
        }
        try body.finish()
        return OrderChangeInput(items: items, shippingAddress: address, status: status)
    }

    static func readCurrency(_ body: inout FieldReader) -> Currency? {
        guard let code = body.string("currency", maxLength: 16) else { return nil }
        if let currency = Currency(code: code) { return currency }
        body.fail(
            "currency",
            Currency(code: code.uppercased()) != nil
                ? "must be upper case (\(code.uppercased()))" : "must be an active ISO 4217 currency code, such as EUR")
        return nil
    }

    static func readItems(_ body: inout FieldReader) -> [OrderItem]? {
        body.objects("items", minCount: 1, maxCount: maxItems) { item -> OrderItem? in
            let sku = item.string("sku", maxLength: 64)
            let name = item.string("name", maxLength: 200)
            let quantity = item.integer("quantity", in: quantities)
            let unitPrice = item.integer("unit_price", in: unitPrices)
            guard let sku, let name, let quantity, let unitPrice else { return nil }
            return OrderItem(sku: sku, name: name, quantity: quantity, unitPrice: unitPrice)
        }
    }

    static func readAddress(_ address: inout FieldReader) -> ShippingAddress? {
        let name = address.string("name", maxLength: 200)
        let line1 = address.string("line1", maxLength: 200)
        let line2 = optionalLine(&address, "line2", maxLength: 200)
        let city = address.string("city", maxLength: 100)
        let region = optionalLine(&address, "region", maxLength: 100)
        let postalCode = address.string("postal_code", maxLength: 20)
        let country = readCountry(&address)
        guard let name, let line1, let city, let postalCode, let country else { return nil }
        return ShippingAddress(
            name: name, line1: line1, line2: line2, city: city, region: region, postalCode: postalCode,
            country: country)
    }

    /// An optional address line; an empty string means the same as leaving it out.
    static func optionalLine(_ address: inout FieldReader, _ name: String, maxLength: Int) -> String? {
        guard let value = address.optionalString(name, maxLength: maxLength), !value.isEmpty else { return nil }
        return value
    }

    static func readCountry(_ address: inout FieldReader) -> Country? {
        guard let code = address.string("country", maxLength: 16) else { return nil }
        if let country = Country(code: code) { return country }
        address.fail(
            "country",
            Country(code: code.uppercased()) != nil
                ? "must be upper case (\(code.uppercased()))"
                : "must be an ISO 3166-1 alpha-2 country code (two upper-case letters, such as GB)")
        return nil
    }
}
