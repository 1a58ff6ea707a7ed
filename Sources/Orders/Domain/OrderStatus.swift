/// Where an order is in its life. `cancelled`, `refunded` and `completed` are final.
public enum OrderStatus: String, Sendable, Hashable, CaseIterable, Codable {
    case pending
    case paid
    case fulfilled
    case completed
    case cancelled
    case refunded
}
