import Foundation
import Hummingbird
import MeridianKit

/// `GET /api/analytics/usage`: per route, requests, error ratio (5xx answers), latency percentiles from the merged
/// HDR histograms, unique users and the top clients, over `[from, to)` from the rollups.
struct UsageQueryRoutes: Sendable {
    let rollups: RollupQueries

    static let topClients = 5

    func register(on router: Router<MeridianRequestContext>) {
        router.get("/api/analytics/usage") { request, _ in try await usage(request) }
    }

    func usage(_ request: Request) async throws -> Response {
        var query = QueryReader(request, known: ["from", "to"])
        let range = TimeRange.read(&query, interval: .minute, defaultSpan: 86_400, maxSpan: 3660 * 86_400)
        try query.finish()
        guard let range else { throw Problem.badQuery(query.errors) }

        let routes = try await rollups.merged(
            name: UsageRecords.eventName, dimension: UsageDimensions.route, from: range.from, to: range.to)
        let routeClients = try await rollups.merged(
            name: UsageRecords.eventName, dimension: UsageDimensions.routeClient, from: range.from, to: range.to)
        var clientsByRoute: [String: [(client: String, requests: Int64)]] = [:]
        for (value, counts) in routeClients where counts.count > 0 {
            let parts = value.split(separator: UsageDimensions.separator, maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            clientsByRoute[String(parts[0]), default: []].append((String(parts[1]), counts.count))
        }
        let report = routes.filter { $0.value.count > 0 }.map { route, counts in
            let latency = counts.latency ?? LatencyHistogram()
            let clients = (clientsByRoute[route] ?? []).sorted { ($0.requests, $1.client) > ($1.requests, $0.client) }
            return RouteUsage(
                route: route, requests: counts.count, errors: counts.errors,
                errorRatio: Double(counts.errors) / Double(max(counts.count, 1)),
                latencyMicros: LatencyPercentiles(
                    p50: latency.percentile(50), p95: latency.percentile(95), p99: latency.percentile(99)),
                uniqueUsers: counts.users.estimate,
                topClients: clients.prefix(UsageQueryRoutes.topClients).map { ClientUsage(client: $0.client, requests: $0.requests) })
        }.sorted { ($0.requests, $1.route) > ($1.requests, $0.route) }
        return try Response.json(UsageResponse(
            from: Timestamp.format(Timestamp.date(micros: range.from)), to: Timestamp.format(Timestamp.date(micros: range.to)),
            routes: report))
    }
}

struct LatencyPercentiles: Encodable, Sendable { var p50: UInt64; var p95: UInt64; var p99: UInt64 }
struct ClientUsage: Encodable, Sendable { var client: String; var requests: Int64 }

struct RouteUsage: Encodable, Sendable {
    var route: String
    var requests: Int64
    var errors: Int64
    var errorRatio: Double
    var latencyMicros: LatencyPercentiles
    var uniqueUsers: Int
    var topClients: [ClientUsage]

    enum CodingKeys: String, CodingKey {
        case route, requests, errors
        case errorRatio = "error_ratio"
        case latencyMicros = "latency_us"
        case uniqueUsers = "unique_users"
        case topClients = "top_clients"
    }
}

struct UsageResponse: Encodable, Sendable {
    var from: String
    var to: String
    var routes: [RouteUsage]
}
