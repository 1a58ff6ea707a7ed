import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import SQLKit
import Testing

@testable import Analytics

@Suite struct QueryTests {
    /// The hand-computed funnel of `FunnelTests`, through the API and the raw events.
    @Test(arguments: TestDatabase.engines)
    func funnelThroughTheAPI(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let start = Date().addingTimeInterval(-2 * 3600)
            func at(_ minutes: Double) -> Date { start.addingTimeInterval(minutes * 60) }
            _ = try await harness.send([
                event(name: "view", user: "a", timestamp: at(1)), event(name: "cart", user: "a", timestamp: at(2)),
                event(name: "buy", user: "a", timestamp: at(3)),
                event(name: "view", user: "b", timestamp: at(1)), event(name: "buy", user: "b", timestamp: at(2)),
                event(name: "cart", user: "b", timestamp: at(3)),
                event(name: "view", user: "c", timestamp: at(1)), event(name: "cart", user: "c", timestamp: at(2)),
                event(name: "view", user: "c", timestamp: at(20)), event(name: "cart", user: "c", timestamp: at(21)),
                event(name: "buy", user: "c", timestamp: at(25)),
                event(name: "view", user: "d", timestamp: at(1)), event(name: "cart", user: "d", timestamp: at(12)),
                event(name: "cart", user: "f", timestamp: at(5)), event(name: "buy", user: "f", timestamp: at(6)),
            ])
            let from = Timestamp.format(start)
            let to = Timestamp.format(at(100))
            let funnel = try await harness.get("/api/analytics/funnels?steps=view,cart,buy&window=10m&from=\(from)&to=\(to)")
            let steps = try #require(funnel["steps"] as? [[String: Any]])
            #expect(steps.map { $0["name"] as? String } == ["view", "cart", "buy"])
            #expect(steps.map { $0["users"] as? Int } == [4, 3, 2])
            #expect(steps.map { $0["conversion"] as? Double } == [1, 0.75, 0.5])
            #expect(funnel["window_seconds"] as? Int == 600)

            for bad in ["steps=view", "steps=a,,b", "steps=a,b&window=0", "steps=a,b&window=91d", "steps=a,b&from=x", "steps=a,b&extra=1"] {
                let response = try await harness.client.execute(uri: "/api/analytics/funnels?\(bad)", method: .get)
                #expect(response.status == .badRequest, "\(bad)")
            }
        }
    }

    /// Query strings are read as clients write them: `+` is a space (Segment event names have spaces, and
    /// `requests` sends "Signed Up" as `Signed+Up`), `%2B` a plus, and a time's unencoded `+00:00` offset stays
    /// a time.
    @Test(arguments: TestDatabase.engines)
    func aPlusInTheQueryIsASpace(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let hour = Timestamp.date(micros: RollupInterval.hour.bucket(Timestamp.micros(Date())) - RollupInterval.hour.micros)
            _ = try await harness.send([
                event(name: "Signed Up", user: "u1", timestamp: hour.addingTimeInterval(60)),
                event(name: "Signed Up", user: "u2", timestamp: hour.addingTimeInterval(120)),
                event(name: "Signed+Up", user: "u3", timestamp: hour.addingTimeInterval(180)),
                event(name: "Order Completed", user: "u1", timestamp: hour.addingTimeInterval(240)),
            ])
            let from = "\(Timestamp.format(hour).dropLast())+00:00"
            let to = Timestamp.format(hour.addingTimeInterval(3600))
            func total(_ event: String) async throws -> Int? {
                let metrics = try await harness.get("/api/analytics/metrics?event=\(event)&interval=hour&from=\(from)&to=\(to)")
                return ((metrics["series"] as? [[String: Any]])?.first?["total"] as? [String: Any])?["count"] as? Int
            }
            #expect(try await total("Signed+Up") == 2)
            #expect(try await total("Signed%20Up") == 2)
            #expect(try await total("Signed%2BUp") == 1)
            let funnel = try await harness.get("/api/analytics/funnels?steps=Signed+Up,Order+Completed&window=1h&from=\(from)&to=\(to)")
            #expect((funnel["steps"] as? [[String: Any]])?.map { $0["users"] as? Int } == [2, 1])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func metricsSeriesAndBreakdowns(_ engine: DatabaseEngine) async throws {
        let configuration = AnalyticsConfiguration(propertyBreakdowns: ["plan"])
        try await withAnalyticsService(engine, configuration: configuration) { harness in
            let base = RollupInterval.hour.bucket(Timestamp.micros(Date())) - 3 * RollupInterval.hour.micros
            let hour = Timestamp.date(micros: base)
            _ = try await harness.send([
                event(name: "signup", user: "u1", timestamp: hour.addingTimeInterval(60), properties: ["plan": "pro"]),
                event(name: "signup", user: "u2", timestamp: hour.addingTimeInterval(120), properties: ["plan": "free"]),
                event(name: "signup", user: "u1", timestamp: hour.addingTimeInterval(3700), properties: ["plan": "pro"]),
            ])
            let from = Timestamp.format(hour)
            let to = Timestamp.format(hour.addingTimeInterval(3 * 3600))
            let metrics = try await harness.get("/api/analytics/metrics?event=signup&interval=hour&from=\(from)&to=\(to)")
            let series = try #require((metrics["series"] as? [[String: Any]])?.first)
            let points = try #require(series["points"] as? [[String: Any]])
            #expect(points.map { $0["count"] as? Int } == [2, 1, 0])
            #expect(points.map { $0["unique_users"] as? Int } == [2, 1, 0])
            #expect(points.first?["time"] as? String == from)
            // Two users across the range: merged sketches, not the sum of per-hour uniques (3).
            #expect((series["total"] as? [String: Any])?["unique_users"] as? Int == 2)

            let plans = try await harness.get("/api/analytics/metrics?event=signup&interval=hour&breakdown=plan&from=\(from)&to=\(to)")
            let byPlan = try #require(plans["series"] as? [[String: Any]])
            #expect(byPlan.map { $0["value"] as? String } == ["pro", "free"])

            for bad in ["interval=hour", "event=signup&interval=week", "event=signup&breakdown=colour",
                        "event=signup&interval=minute&from=2020-01-01T00:00:00Z&to=2021-01-01T00:00:00Z"] {
                let response = try await harness.client.execute(uri: "/api/analytics/metrics?\(bad)", method: .get)
                #expect(response.status == .badRequest, "\(bad)")
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func rawEventsPageWithACursor(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let start = Date().addingTimeInterval(-3600)
            _ = try await harness.send((0..<7).map { event(name: "e\($0)", user: "usr_page", timestamp: start.addingTimeInterval(Double($0))) })
            _ = try await harness.send([event(name: "other", user: "usr_else")])
            var names: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let query = "/api/analytics/events?user_id=usr_page&limit=3" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await harness.get(query)
                names += (page["data"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                cursor = page["next_cursor"] as? String
                pages += 1
            } while cursor != nil && pages < 10
            #expect(names == (0..<7).map { "e\($0)" })
            #expect(pages == 3)
            let bad = try await harness.client.execute(uri: "/api/analytics/events?user_id=usr_page&cursor=%%%", method: .get)
            #expect(bad.status == .badRequest)
            let missing = try await harness.client.execute(uri: "/api/analytics/events", method: .get)
            #expect(missing.status == .badRequest)
        }
    }

    /// Erasure deletes the user's raw events, takes their counts out of the rollups, leaves everyone else's, and
    /// writes an audit record; a second erasure finds nothing.
    @Test(arguments: TestDatabase.engines)
    func erasureRemovesAUsersEvents(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            _ = try await harness.send([
                event(name: "signup", user: "usr_gone"), event(name: "signup", user: "usr_gone"),
                event(name: "signup", user: "usr_stays"),
            ])
            let response = try await harness.client.execute(uri: "/api/analytics/users/usr_gone", method: .delete)
            #expect(response.status == .ok)
            #expect(try object(response)["erased_events"] as? Int == 2)
            let gone = try await harness.get("/api/analytics/events?user_id=usr_gone")
            #expect((gone["data"] as? [Any])?.isEmpty == true)
            let stays = try await harness.get("/api/analytics/events?user_id=usr_stays")
            #expect((stays["data"] as? [Any])?.count == 1)
            let metrics = try await harness.get("/api/analytics/metrics?event=signup&interval=day")
            let total = (metrics["series"] as? [[String: Any]])?.first?["total"] as? [String: Any]
            #expect(total?["count"] as? Int == 1)

            let audit = try await harness.service.database.read { sql in
                try await sql.select().column("action").from("audit_log").all(decodingColumn: "action", as: String.self)
            }
            #expect(audit.filter { $0 == "analytics.erase" }.count == 1)
            let again = try await harness.client.execute(uri: "/api/analytics/users/usr_gone", method: .delete)
            #expect(try object(again)["erased_events"] as? Int == 0)
        }
    }

    /// Every mutation of the service (erasure, key creation, key revocation) leaves exactly one audit record.
    @Test(arguments: TestDatabase.engines)
    func mutationsAreAudited(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let key = try await harness.writeKey()
            _ = try await harness.client.execute(uri: "/api/analytics/write-keys/\(key.id)", method: .delete)
            _ = try await harness.client.execute(uri: "/api/analytics/users/usr_x", method: .delete)
            let actions = try await harness.service.database.read { sql in
                try await sql.select().column("action").from("audit_log").orderBy("sequence")
                    .all(decodingColumn: "action", as: String.self)
            }
            #expect(
                actions == ["data_key.create", "index_key.create", "write_key.create", "write_key.revoke", "analytics.erase"])
        }
    }

    /// Raw events past retention are pruned; the rollups they fed stay.
    @Test(arguments: TestDatabase.engines)
    func retentionPrunesRawEventsButKeepsRollups(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine, configuration: AnalyticsConfiguration(retentionDays: 2)) { harness in
            let old = Date().addingTimeInterval(-36 * 3600)
            _ = try await harness.send([event(user: "usr_old", timestamp: old), event(user: "usr_new")])
            // A day later the first event is two and a half days old (past retention), the second one day.
            let pruned = await harness.service.retentionPruner.pruneOnce(now: Date().addingTimeInterval(86_400))
            #expect(pruned == 1)
            let old2 = try await harness.get("/api/analytics/events?user_id=usr_old")
            #expect((old2["data"] as? [Any])?.isEmpty == true)
            let new = try await harness.get("/api/analytics/events?user_id=usr_new")
            #expect((new["data"] as? [Any])?.count == 1)
            let metrics = try await harness.get("/api/analytics/metrics?event=signup&interval=day&from=\(Timestamp.format(old.addingTimeInterval(-86_400)))")
            let total = (metrics["series"] as? [[String: Any]])?.first?["total"] as? [String: Any]
            #expect(total?["count"] as? Int == 2)
        }
    }
}
