import Foundation
import Hummingbird
import MeridianKit

/// `GET /api/analytics/metrics`: a time series of counts and unique users of one event, from the rollups.
struct MetricsRoutes: Sendable {
    let rollups: RollupQueries
    let configuration: AnalyticsConfiguration

    static let maxPoints = 1500
    static let maxSeries = 50

    func register(on router: Router<MeridianRequestContext>) {
        router.get("/api/analytics/metrics") { request, _ in try await metrics(request) }
    }

    var breakdowns: [String] {
        UsageDimensions.all + configuration.propertyBreakdowns.filter { !UsageDimensions.all.contains($0) }
    }

    func metrics(_ request: Request) async throws -> Response {
        var query = QueryReader(request, known: ["event", "interval", "from", "to", "breakdown"])
        let event = query.string("event", maxLength: BatchLimits.maxNameLength)
        if query.raw("event") == nil { query.fail("event", "is required") }
        let interval = query.oneOf("interval", RollupInterval.allCases.map(\.rawValue)).flatMap(RollupInterval.init) ?? .hour
        let breakdown = query.oneOf("breakdown", breakdowns)
        let range = TimeRange.read(&query, interval: interval, defaultSpan: 86_400, maxSpan: 3660 * 86_400)
        if let range, (range.to - range.from) / interval.micros > Int64(MetricsRoutes.maxPoints) {
            query.fail("interval", "gives more than \(MetricsRoutes.maxPoints) points for this range; choose a coarser one")
        }
        try query.finish()
        guard let event, let range else { throw Problem.badQuery(query.errors) }

        let rows = try await rollups.rows(
            interval: interval, name: event, dimension: breakdown ?? RollupKey.total, first: range.from,
            last: range.to - interval.micros)
        var perValue: [String: [Int64: RollupCounts]] = [:]
        for (key, counts) in rows { perValue[key.value, default: [:]][key.bucket] = counts }
        var series: [MetricSeries] = perValue.map { value, buckets in
            var total = RollupCounts()
            var points: [MetricPoint] = []
            var bucket = range.from
            while bucket < range.to {
                let counts = buckets[bucket] ?? RollupCounts()
                total.add(counts)
                points.append(MetricPoint(time: bucket, count: counts.count, uniqueUsers: counts.users.estimate))
                bucket += interval.micros
            }
            return MetricSeries(
                value: breakdown == nil ? nil : value, points: points,
                total: MetricTotal(count: total.count, uniqueUsers: total.users.estimate))
        }
        series.sort { ($0.total.count, $1.value ?? "") > ($1.total.count, $0.value ?? "") }
        if series.isEmpty, breakdown == nil {
            let points = stride(from: range.from, to: range.to, by: Int(interval.micros)).map {
                MetricPoint(time: $0, count: 0, uniqueUsers: 0)
            }
            series = [MetricSeries(value: nil, points: points, total: MetricTotal(count: 0, uniqueUsers: 0))]
        }
        return try Response.json(MetricsResponse(
            event: event, interval: interval.rawValue, from: range.from, to: range.to, breakdown: breakdown,
            series: Array(series.prefix(MetricsRoutes.maxSeries))))
    }
}

struct MetricPoint: Encodable, Sendable {
    var time: Int64
    var count: Int64
    var uniqueUsers: Int

    enum CodingKeys: String, CodingKey { case time, count, uniqueUsers = "unique_users" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Timestamp.format(Timestamp.date(micros: time)), forKey: .time)
        try container.encode(count, forKey: .count)
        try container.encode(uniqueUsers, forKey: .uniqueUsers)
    }
}

struct MetricTotal: Encodable, Sendable {
    var count: Int64
    var uniqueUsers: Int
    enum CodingKeys: String, CodingKey { case count, uniqueUsers = "unique_users" }
}

struct MetricSeries: Encodable, Sendable {
    var value: String?
    var points: [MetricPoint]
    var total: MetricTotal

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(value, forKey: .value)
        try container.encode(points, forKey: .points)
        try container.encode(total, forKey: .total)
    }
    enum CodingKeys: String, CodingKey { case value, points, total }
}

struct MetricsResponse: Encodable, Sendable {
    var event: String
    var interval: String
    var from: Int64
    var to: Int64
    var breakdown: String?
    var series: [MetricSeries]

    enum CodingKeys: String, CodingKey { case event, interval, from, to, breakdown, series }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(event, forKey: .event)
        try container.encode(interval, forKey: .interval)
        try container.encode(Timestamp.format(Timestamp.date(micros: from)), forKey: .from)
        try container.encode(Timestamp.format(Timestamp.date(micros: to)), forKey: .to)
        try container.encode(breakdown, forKey: .breakdown)
        try container.encode(series, forKey: .series)
    }
}
