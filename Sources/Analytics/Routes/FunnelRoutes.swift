import Foundation
import Hummingbird
import MeridianKit

/// `GET /api/analytics/funnels?steps=a,b,c&window=1d&from=&to=`: ordered conversion per step, per user, from the
/// raw events (a funnel needs each user's sequence, which rollups do not keep).
struct FunnelRoutes: Sendable {
    let events: EventQueries

    static let maxSteps = 10
    static let maxWindow: Int64 = 90 * 86_400

    func register(on router: Router<MeridianRequestContext>) {
        router.get("/api/analytics/funnels") { request, _ in try await funnel(request) }
    }

    func funnel(_ request: Request) async throws -> Response {
        var query = QueryReader(request, known: ["steps", "window", "from", "to"])
        var steps: [String]?
        if let text = query.raw("steps") {
            let names = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            if names.count < 2 || names.count > FunnelRoutes.maxSteps
                || names.contains(where: { $0.isEmpty || $0.count > BatchLimits.maxNameLength })
            {
                query.fail("steps", "must be 2 to \(FunnelRoutes.maxSteps) comma-separated event names")
            } else {
                steps = names
            }
        } else {
            query.fail("steps", "is required")
        }
        let window = query.raw("window").map { text -> Int64? in
            guard let seconds = FunnelRoutes.seconds(text), seconds > 0, seconds <= FunnelRoutes.maxWindow else {
                query.fail("window", "must be a duration such as 30m, 12h or 7d, at most 90d")
                return nil
            }
            return seconds
        } ?? 86_400
        let range = TimeRange.read(&query, interval: .minute, defaultSpan: 7 * 86_400, maxSpan: 366 * 86_400)
        try query.finish()
        guard let steps, let window, let range else { throw Problem.badQuery(query.errors) }

        let funnel = Funnel(steps: steps, window: window * 1_000_000, from: range.from, to: range.to)
        let users = try await events.funnelEvents(steps: steps, from: range.from, to: range.to + funnel.window)
        let counts = funnel.counts(reaches: users.values.lazy.map { funnel.stepsReached($0) })
        let first = max(counts.first ?? 0, 1)
        return try Response.json(FunnelResponse(
            windowSeconds: window, from: Timestamp.format(Timestamp.date(micros: range.from)),
            to: Timestamp.format(Timestamp.date(micros: range.to)),
            steps: zip(steps, counts).enumerated().map { index, step in
                FunnelStep(
                    name: step.0, users: step.1, conversion: Double(step.1) / Double(first),
                    conversionFromPrevious: index == 0 ? 1 : Double(step.1) / Double(max(counts[index - 1], 1)))
            }))
    }

    /// `90`, `90s`, `30m`, `12h`, `7d`.
    static func seconds(_ text: String) -> Int64? {
        guard let last = text.last else { return nil }
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        let unit = units[last]
        guard let number = Int64(unit == nil ? Substring(text) : text.dropLast()), number >= 0 else { return nil }
        let (seconds, overflow) = number.multipliedReportingOverflow(by: unit ?? 1)
        return overflow ? nil : seconds
    }
}

struct FunnelStep: Encodable, Sendable {
    var name: String
    var users: Int
    /// Of the users who did step 1.
    var conversion: Double
    var conversionFromPrevious: Double

    enum CodingKeys: String, CodingKey {
        case name, users, conversion
        case conversionFromPrevious = "conversion_from_previous"
    }
}

struct FunnelResponse: Encodable, Sendable {
    var windowSeconds: Int64
    var from: String
    var to: String
    var steps: [FunnelStep]

    enum CodingKeys: String, CodingKey { case from, to, steps, windowSeconds = "window_seconds" }
}
