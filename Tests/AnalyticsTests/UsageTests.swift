import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import Testing

@testable import Analytics

@Suite struct UsageTests {
    static func record(
        route: String, status: Int, latency: Int, client: String?, subject: String?, time: Date = Date()
    ) -> [String: Any] {
        [
            "time": Timestamp.format(time), "route": route, "method": "GET", "status": status, "latency_us": latency,
            "bytes_in": 0, "bytes_out": 512, "subject": subject ?? NSNull(), "client_id": client ?? NSNull(),
        ]
    }

    /// Per route: requests, the 5xx ratio, percentiles from the merged histograms (across minute, hour and day
    /// buckets), unique users and the top clients.
    @Test(arguments: TestDatabase.engines)
    func usageReportPerRoute(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            var records: [[String: Any]] = []
            let now = Date()
            for index in 1...100 {
                // Spread over two days so the report merges day, hour and minute rollups.
                let time = now.addingTimeInterval(-Double(index) * 1500)
                records.append(Self.record(
                    route: "/api/orders/{id}", status: index <= 5 ? 503 : 200, latency: index * 1000,
                    client: index <= 60 ? "web" : "cli", subject: "usr_\(index % 10)", time: time))
            }
            records.append(Self.record(route: "/api/users", status: 404, latency: 50, client: nil, subject: nil))
            let service = try await harness.client(as: .service, subject: "cli_gateway")
            let response = try await service.execute(
                uri: "/internal/analytics/usage", method: .post, headers: jsonHeaders, body: try jsonBody(["records": records]))
            #expect(response.status == .accepted)
            #expect(try object(response)["accepted"] as? Int == 101)

            let from = Timestamp.format(now.addingTimeInterval(-3 * 86_400))
            let to = Timestamp.format(now.addingTimeInterval(120))
            let usage = try await harness.get("/api/analytics/usage?from=\(from)&to=\(to)")
            let routes = try #require(usage["routes"] as? [[String: Any]])
            #expect(routes.map { $0["route"] as? String } == ["/api/orders/{id}", "/api/users"])
            let orders = routes[0]
            #expect(orders["requests"] as? Int == 100)
            #expect(orders["errors"] as? Int == 5)
            #expect(orders["error_ratio"] as? Double == 0.05)
            #expect(orders["unique_users"] as? Int == 10)
            let latency = try #require(orders["latency_us"] as? [String: Any])
            for (key, expected) in [("p50", 50_000.0), ("p95", 95_000.0), ("p99", 99_000.0)] {
                let value = try #require(latency[key] as? Double)
                #expect(abs(value - expected) / expected < 0.01, "\(key) = \(value)")
            }
            let clients = try #require(orders["top_clients"] as? [[String: Any]])
            #expect(clients.map { $0["client"] as? String } == ["web", "cli"])
            #expect(clients.map { $0["requests"] as? Int } == [60, 40])
            // A 404 is the caller's error, not the service's: no error counted.
            #expect(routes[1]["errors"] as? Int == 0)
            #expect((routes[1]["top_clients"] as? [[String: Any]])?.first?["client"] as? String == "-")

            // Broken down by status class through the metrics API.
            let metrics = try await harness.get(
                "/api/analytics/metrics?event=$request&interval=day&breakdown=status_class&from=\(from)&to=\(to)")
            let series = try #require(metrics["series"] as? [[String: Any]])
            let byClass = Dictionary(uniqueKeysWithValues: series.map {
                ($0["value"] as? String ?? "", ($0["total"] as? [String: Any])?["count"] as? Int ?? -1)
            })
            #expect(byClass == ["2xx": 95, "5xx": 5, "4xx": 1])
        }
    }

    @Test(.disabled("known defect, left open: it stopped making progress once in the full suite (CI run of 2026-11-26 00:25: every other test finished, no thread blocked, no timer pending, no database connection open, so a task awaits a resumption that never comes); passes alone and in other full runs; not yet found (issue 7 note)"), arguments: TestDatabase.engines)
    func badRecordsAreRefusedWhole(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let body = try jsonBody(["records": [
                Self.record(route: "/a", status: 200, latency: 1, client: nil, subject: nil),
                ["time": "now", "route": "/b", "method": "GET", "status": 999, "latency_us": -1, "bytes_in": 0, "bytes_out": 0],
            ]])
            let response = try await harness.client.execute(
                uri: "/internal/analytics/usage", method: .post, headers: jsonHeaders, body: body)
            #expect(response.status == .unprocessableContent)
            let fields = Set((try object(response)["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String })
            #expect(fields == ["records[1].time", "records[1].status", "records[1].latency_us"])
            let usage = try await harness.get("/api/analytics/usage")
            #expect((usage["routes"] as? [Any])?.isEmpty == true)

            let tooMany = (0...UsageRecords.maxRecords).map { _ in Self.record(route: "/a", status: 200, latency: 1, client: nil, subject: nil) }
            let big = try await harness.client.execute(
                uri: "/internal/analytics/usage", method: .post, headers: jsonHeaders, body: try jsonBody(["records": tooMany]))
            #expect(big.status == .contentTooLarge)
        }
    }
}
