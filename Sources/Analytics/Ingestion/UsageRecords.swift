import Foundation
import MeridianKit

/// The gateway's usage telemetry (docs/gateway.md "Usage telemetry"): one record per proxied request, stored as a
/// `$request` event of the calling user (or client), broken down by route, method, status class and client.
enum UsageRecords {
    static let eventName = "$request"
    static let maxRecords = 1000

    /// Reads the body strictly: the gateway is the only writer, so any bad record is a bug to surface (422
    /// listing every bad field), not something to skip.
    static func read(_ body: inout FieldReader, receivedAt: Date) -> [AnalyticsEvent]? {
        body.objects("records", maxCount: maxRecords) { record in
            let time = record.time("time")
            let route = record.string("route", maxLength: 200)
            let method = record.string("method", maxLength: 16)
            let status = record.integer("status", in: 100...599)
            let latency = record.integer("latency_us", in: 0...Int64(LatencyHistogram.highestTrackable) * 1000)
            let bytesIn = record.integer("bytes_in", in: 0...Int64.max)
            let bytesOut = record.integer("bytes_out", in: 0...Int64.max)
            let subject = record.optionalString("subject", minLength: 1, maxLength: BatchLimits.maxIDLength)
            let clientID = record.optionalString("client_id", minLength: 1, maxLength: BatchLimits.maxIDLength)
            guard let time, let route, let method, let status, let latency, let bytesIn, let bytesOut else { return nil }
            let properties = JSONValue.object([
                "route": .string(route), "method": .string(method), "status": .integer(status),
                "latency_us": .integer(latency), "bytes_in": .integer(bytesIn), "bytes_out": .integer(bytesOut),
                "client_id": clientID.map(JSONValue.string) ?? .null,
            ])
            let derived = UsageDimensions.derive(properties)
            return AnalyticsEvent(
                id: UUID().uuidString.lowercased(), name: eventName, userID: subject,
                anonymousID: subject == nil ? (clientID ?? "anonymous") : nil,
                occurredAt: Timestamp.micros(time), properties: properties, source: .usage,
                dimensions: derived.dimensions, latencyMicros: UInt64(latency), isError: derived.isError)
        }
    }
}

/// The breakdowns of usage telemetry, derived from a record's properties (at ingestion, and again from the
/// opened properties when an erasure takes a user's requests out of the rollups).
enum UsageDimensions {
    static let route = "route"
    static let method = "method"
    static let statusClass = "status_class"
    static let client = "client"
    /// Route and client together: the top clients of each route.
    static let routeClient = "route,client"
    static let separator: Character = "\t"

    static let all = [route, method, statusClass, client]

    static func derive(_ properties: JSONValue?) -> (dimensions: [(dimension: String, value: String)], isError: Bool) {
        guard case .object(let members) = properties, case .string(let route) = members["route"],
            case .string(let method) = members["method"], case .integer(let status) = members["status"]
        else { return ([], false) }
        var client = "-"
        if case .string(let id) = members["client_id"] { client = id }
        return (
            [
                (UsageDimensions.route, route), (UsageDimensions.method, method),
                (UsageDimensions.statusClass, "\(status / 100)xx"), (UsageDimensions.client, client),
                (UsageDimensions.routeClient, "\(route)\(separator)\(client)"),
            ],
            status >= 500
        )
    }
}
