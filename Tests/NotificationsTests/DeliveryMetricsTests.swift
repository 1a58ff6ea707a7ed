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
            for channel in Channel.allCases {
                for status in DeliveryWorker.attemptResults {
                    #expect(
                        exposition.contains(
                            #"notification_delivery_attempts_total{channel="\#(channel.rawValue)",status="\#(status.rawValue)"} 0"#))
                }
            }
        }
    }
}
