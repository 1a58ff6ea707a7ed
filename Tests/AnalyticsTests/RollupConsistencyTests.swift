import Foundation
import MeridianKit
import MeridianTestSupport
import SQLKit
import Testing

@testable import Analytics

/// The rollups equal a brute-force count over the raw events, for a random workload (seeded, so a failure
/// replays) with late events (later batches reach back in time) and duplicates (within and across batches, some
/// with different contents that must be ignored).
@Suite struct RollupConsistencyTests {
    struct Sent {
        var name: String
        var user: String
        var time: Date
        var plan: String
    }

    @Test(arguments: TestDatabase.engines)
    func rollupsEqualABruteForceCount(_ engine: DatabaseEngine) async throws {
        let configuration = AnalyticsConfiguration(propertyBreakdowns: ["plan"])
        try await withAnalyticsService(engine, configuration: configuration) { harness in
            var generator = SeededGenerator(seed: 20_261_125)
            let now = Date()
            var stored: [String: Sent] = [:]
            var ids: [String] = []
            for batchIndex in 0..<12 {
                var batch: [[String: Any]] = []
                for _ in 0..<Int.random(in: 50...250, using: &generator) {
                    if !ids.isEmpty, Int.random(in: 0..<10, using: &generator) == 0 {
                        // A duplicate, possibly with other contents: the first one stored wins.
                        let id = ids.randomElement(using: &generator)!
                        batch.append(event(id: id, name: "changed", user: "usr_other", timestamp: now))
                        continue
                    }
                    let id = UUID().uuidString.lowercased()
                    // Later batches reach further back: late events land in buckets already written.
                    let age = Double.random(in: 0...(Double(batchIndex + 1) * 6 * 3600), using: &generator)
                    let sent = Sent(
                        name: ["view", "cart", "buy"].randomElement(using: &generator)!,
                        user: "usr_\(Int.random(in: 0..<40, using: &generator))",
                        time: now.addingTimeInterval(-age),
                        plan: ["free", "pro", "team"].randomElement(using: &generator)!)
                    batch.append(event(id: id, name: sent.name, user: sent.user, timestamp: sent.time, properties: ["plan": sent.plan]))
                    if stored[id] == nil {
                        stored[id] = sent
                        ids.append(id)
                    }
                    if Int.random(in: 0..<20, using: &generator) == 0 { batch.append(batch.last!) }
                }
                let response = try await harness.send(batch)
                #expect(response.status == .ok)
            }

            // Brute force over the raw events as stored.
            struct Expected { var count: Int64 = 0; var users: Set<String> = [] }
            var expected: [RollupKey: Expected] = [:]
            let rows = try await harness.service.database.read { sql in
                try await sql.select().columns("event_id", "event_name", "distinct_id", "occurred_at").from("analytics_events").all()
            }
            #expect(rows.count == stored.count)
            for row in rows {
                let id = try row.decode(column: "event_id", as: String.self)
                let sent = try #require(stored[id])
                let name = try row.decode(column: "event_name", as: String.self)
                let user = try row.decode(column: "distinct_id", as: String.self)
                #expect(name == sent.name && user == sent.user)
                let time = try row.decode(column: "occurred_at", as: Int64.self)
                for interval in RollupInterval.allCases {
                    for (dimension, value) in [("", ""), ("plan", sent.plan)] {
                        let key = RollupKey(interval: interval, bucket: interval.bucket(time), name: name, dimension: dimension, value: value)
                        expected[key, default: Expected()].count += 1
                        expected[key, default: Expected()].users.insert(user)
                    }
                }
            }

            let rollups = try await harness.service.database.read { sql in
                try await sql.select().columns("*").from("analytics_rollups").all().map(RollupStore.decode)
            }
            var actual: [RollupKey: RollupCounts] = [:]
            for (key, counts) in rollups where counts.count > 0 { actual[key] = counts }
            #expect(Set(actual.keys) == Set(expected.keys))
            for (key, want) in expected {
                let got = try #require(actual[key])
                #expect(got.count == want.count, "\(key)")
                // At most 40 users a bucket: the sketch is exact or off by one there.
                #expect(abs(got.users.estimate - want.users.count) <= 1, "\(key): \(got.users.estimate) vs \(want.users.count)")
            }

            // The query API answers from the same rows: the daily totals of each name add up to the brute force.
            for name in ["view", "cart", "buy"] {
                let metrics = try await harness.get("/api/analytics/metrics?event=\(name)&interval=day&from=\(Timestamp.format(now.addingTimeInterval(-5 * 86_400)))&to=\(Timestamp.format(now.addingTimeInterval(60)))")
                let series = try #require((metrics["series"] as? [[String: Any]])?.first)
                let total = series["total"] as? [String: Any]
                let want = stored.values.filter { $0.name == name }
                #expect(total?["count"] as? Int == want.count)
                let users = Set(want.map(\.user)).count
                #expect(abs((total?["unique_users"] as? Int ?? -99) - users) <= 1)
            }
        }
    }

    /// Two replicas (two ingestors, each with its own group commit, on one PostgreSQL) ingest into the same
    /// buckets at once: their transactions lock shared rollup rows in one order, so none deadlocks, and every
    /// event is counted once in the totals and in the breakdown.
    @Test(.enabled(if: TestDatabase.engines.contains(.postgres), "needs MERIDIAN_TEST_POSTGRES_URL"))
    func twoReplicasIngestingTheSameBucketsCountEveryEvent() async throws {
        try await withAnalyticsService(.postgres) { harness in
            let sealer = PropertySealer(cipher: harness.service.cipher)
            let replicas = (0..<2).map { _ in EventIngestor(database: harness.service.database, sealer: sealer) }
            let now = Timestamp.micros(Date())
            var generator = SeededGenerator(seed: 20_261_126)
            var batches: [[AnalyticsEvent]] = []
            for _ in 0..<24 {
                batches.append((0..<200).map { _ in
                    AnalyticsEvent(
                        id: UUID().uuidString.lowercased(), name: "e\(Int.random(in: 0..<4, using: &generator))",
                        userID: "usr_\(Int.random(in: 0..<50, using: &generator))", anonymousID: nil,
                        occurredAt: now - Int64.random(in: 0..<(30 * 60_000_000), using: &generator), properties: nil,
                        source: .api, dimensions: [("plan", ["free", "pro", "team", "edu"].randomElement(using: &generator)!)])
                })
            }
            let accepted = try await withThrowingTaskGroup(of: Int.self) { group in
                for (index, batch) in batches.enumerated() {
                    group.addTask { try await replicas[index % 2].ingest(batch).accepted }
                }
                return try await group.reduce(0, +)
            }
            #expect(accepted == 24 * 200)
            for (interval, dimension) in [("day", ""), ("hour", "plan"), ("minute", "")] {
                let counted = try await harness.service.database.read { sql in
                    try await sql.raw("""
                        SELECT CAST(SUM(event_count) AS BIGINT) AS n FROM analytics_rollups \
                        WHERE granularity = \(bind: interval) AND dimension = \(bind: dimension)
                        """).first()!.decode(column: "n", as: Int.self)
                }
                #expect(counted == 24 * 200, "\(interval) \(dimension)")
            }
        }
    }
}
