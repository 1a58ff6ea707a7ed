import Hummingbird
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Notifications

@Suite struct DeliveryMetricsTests {
    /// Every channel and result is on `/metrics` at 0 from start-up, so the dashboard's rates (and the check that
    /// dashboards name only exported metrics) do not wait for the first attempt.
    @Test(arguments: TestDatabase.engines)
    func everyDeliverySeriesIsExportedAtZeroFromStartUp(_ engine: DatabaseEngine) async throws {
        let h = try await NotificationHarness(engine)
        try await h.service.makeApplication().test(.router) { client in
            let exposition = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            Self.expectAttempts(in: exposition) { _, _ in 0 }
        }
    }

    /// An attempt increments the series of its channel and result, and no other: an email without SMTP settings
    /// becomes a dead letter on its first attempt.
    @Test(arguments: TestDatabase.engines)
    func anAttemptCountsUnderItsChannelAndResult(_ engine: DatabaseEngine) async throws {
        let h = try await NotificationHarness(engine)
        let admin = try await h.token(.admin)
        try await h.service.makeApplication().test(.router) { client in
            let sent = try await client.call(
                .post, "/api/notifications", token: admin,
                body: NotificationRoutesTests.send(to: Identifier.make(prefix: "usr"), channels: #"["email"]"#))
            #expect(sent.status == .accepted)
            #expect(try await h.service.worker.runOnce() == 1)
            let exposition = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            Self.expectAttempts(in: exposition) { channel, status in channel == .email && status == .dead ? 1 : 0 }
        }
    }

    /// The service exports its database pool (the kernel's `db_pool_*` series, made by `ServiceCore`).
    @Test(arguments: TestDatabase.engines)
    func theDatabasePoolIsExported(_ engine: DatabaseEngine) async throws {
        let h = try await NotificationHarness(engine)
        try await h.service.makeApplication().test(.router) { client in
            let exposition = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            let engineLabel = #"{engine="\#(engine.rawValue)"}"#
            #expect(exposition.contains("db_pool_connections_in_use\(engineLabel) "))
            #expect(exposition.contains("db_pool_connections_max\(engineLabel) "))
            #expect(exposition.contains("# TYPE db_pool_wait_seconds histogram"))
        }
    }

    /// Every channel × result series of `notification_delivery_attempts_total` is exported with `count`'s value.
    static func expectAttempts(
        in exposition: String, count: (Channel, DeliveryStatus) -> Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for channel in Channel.allCases {
            for status in DeliveryMetrics.attemptResults {
                let series = #"notification_delivery_attempts_total{channel="\#(channel.rawValue)",status="\#(status.rawValue)"}"#
                #expect(exposition.contains("\(series) \(count(channel, status))\n"), sourceLocation: sourceLocation)
            }
        }
    }
}
