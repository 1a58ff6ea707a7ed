/// Where an order is delivered.
public struct ShippingAddress: Sendable, Hashable, Codable {
    public var name: String
    public var line1: String
    public var line2: String?
    public var city: String
    public var region: String?
    public var postalCode: String
    public var country: Country

    public init(
        name: String, line1: String, line2: String? = nil, city: String, region: String? = nil, postalCode: String,
        country: Country
    ) {
        self.name = name
        self.line1 = line1
        self.line2 = line2
        self.city = city
        self.region = region
        self.postalCode = postalCode
        self.country = country
    }

    enum CodingKeys: String, CodingKey {
        case name, line1, line2, city, region, country
        case postalCode = "postal_code"
    }

    /// Decodes a stored address (requests are read field by field with validation, not through `Decodable`).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let country = Country(storedCode: try container.decode(String.self, forKey: .country))
        self.init(
            name: try container.decode(String.self, forKey: .name),
            line1: try container.decode(String.self, forKey: .line1),
            line2: try container.decodeIfPresent(String.self, forKey: .line2),
            city: try container.decode(String.self, forKey: .city),
            region: try container.decodeIfPresent(String.self, forKey: .region),
            postalCode: try container.decode(String.self, forKey: .postalCode),
            country: country)
    }

    /// Absent optional lines are written as `null` so that every address has the same members.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(line1, forKey: .line1)
        try container.encode(line2, forKey: .line2)
        try container.encode(city, forKey: .city)
        try container.encode(region, forKey: .region)
        try container.encode(postalCode, forKey: .postalCode)
        try container.encode(country.code, forKey: .country)
    }
}
