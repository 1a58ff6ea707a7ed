import Foundation
import MeridianKit

/// One request as analytics' usage ingestion receives it (`POST /internal/analytics/usage`, docs/gateway.md).
struct UsageRecord: Sendable, Equatable {
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

    /// The JSON member names.
    enum CodingKeys: String, CodingKey {
        case time, route, method, status, subject
        case latencyMicros = "latency_us"
        case bytesIn = "bytes_in"
        case bytesOut = "bytes_out"
        case clientID = "client_id"
    }

    /// RFC 3339 in UTC with a fraction, as the contract asks.
    static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
}

/// The batch body: `{"records": [...]}`.
struct UsageBatch {
    let records: [UsageRecord]

    /// The body as JSON, written straight into bytes: Foundation's `JSONEncoder` took about 2% of the gateway's
    /// CPU under load (perf), and a `JSONValue` tree (a dictionary per record, keys sorted) still 1.6%.
    func json() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32 + records.count * 256)
        out.append(contentsOf: #"{"records":["#.utf8)
        for (index, record) in records.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            record.writeJSON(into: &out)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }
}

extension UsageRecord {
    /// One record's JSON object; a caller the request did not name is `null`.
    func writeJSON(into out: inout [UInt8]) {
        func member(_ key: CodingKeys, _ first: Bool = false) {
            out.append(contentsOf: (first ? "{\"" : ",\"").utf8)
            out.append(contentsOf: key.stringValue.utf8)
            out.append(contentsOf: "\":".utf8)
        }
        func string(_ value: String?) {
            guard let value else { return out.append(contentsOf: "null".utf8) }
            JSONValue.writeString(value, into: &out)
        }
        member(.time, true)
        string(UsageRecord.timeFormat.format(time))
        member(.route)
        string(route)
        member(.method)
        string(method)
        member(.status)
        out.append(contentsOf: String(status).utf8)
        member(.latencyMicros)
        out.append(contentsOf: String(latencyMicros).utf8)
        member(.bytesIn)
        out.append(contentsOf: String(bytesIn).utf8)
        member(.bytesOut)
        out.append(contentsOf: String(bytesOut).utf8)
        member(.subject)
        string(subject)
        member(.clientID)
        string(clientID)
        out.append(UInt8(ascii: "}"))
    }
}

extension UsageRecord {
    /// Analytics' ingestion route for usage records.
    static let path = "/internal/analytics/usage"
}
