import Foundation

/// One request as analytics' usage ingestion receives it (`POST /internal/analytics/usage`, docs/contracts).
struct UsageRecord: Sendable, Encodable, Equatable {
    var time: Date
    /// The route template, never the raw path (`/api/orders/**`), so the record holds no identifiers.
    var route: String
    var method: String
    var status: Int
    var latencyMicros: Int64
    var bytesIn: Int64
    var bytesOut: Int64
    var subject: String?
    var clientID: String?

    enum CodingKeys: String, CodingKey {
        case time, route, method, status, subject
        case latencyMicros = "latency_us"
        case bytesIn = "bytes_in"
        case bytesOut = "bytes_out"
        case clientID = "client_id"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(UsageRecord.timeFormat.format(time), forKey: .time)
        try container.encode(route, forKey: .route)
        try container.encode(method, forKey: .method)
        try container.encode(status, forKey: .status)
        try container.encode(latencyMicros, forKey: .latencyMicros)
        try container.encode(bytesIn, forKey: .bytesIn)
        try container.encode(bytesOut, forKey: .bytesOut)
        try container.encode(subject, forKey: .subject)
        try container.encode(clientID, forKey: .clientID)
    }

    /// RFC 3339 in UTC with a fraction, as the contract asks.
    static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
}

/// The batch body: `{"records": [...]}`.
struct UsageBatch: Encodable {
    let records: [UsageRecord]
}
