import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import Testing

@testable import Gateway

@Suite struct UsageTelemetryTests {
    /// Usage telemetry off when `reports` is nil.
    static func options(_ reports: ReportOptions?) -> GatewayOptions {
        var options = GatewayOptions()
        options.rateLimitingEnabled = false
        options.usageTelemetry = reports != nil
        if let reports { options.reports = reports }
        return options
    }

    /// Every request becomes one record with the route template (not the path), status, latency, bytes and the
    /// caller; batches go to analytics with the service token.
    @Test func recordsAreBatchedToAnalytics() async throws {
        let hooks = UpstreamHooks()
        let usage = ReportOptions(flushInterval: .milliseconds(50), token: { "service-token" })
        try await TestUpstream.run(GatewayHarness.services, hooks: hooks) { urls in
            try await GatewayHarness.run(urls: urls, options: Self.options(usage)) { client, _ in
                let ok = try await client.execute(
                    uri: "/api/orders/ord_secret", method: .put, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"a":1}"#))
                #expect(ok.status == .ok)
                let anonymous = GatewayClient(base: client.base, token: nil)
                #expect(try await anonymous.execute(uri: "/api/orders/x", method: .get).status == .unauthorized)
                try await waitUntil { hooks.usage.records.count >= 2 }
                let records = hooks.usage.records
                let put = try #require(records.first { $0["method"] as? String == "PUT" })
                #expect(put["route"] as? String == "/api/orders/**")
                #expect(put["status"] as? Int == 200)
                #expect(put["subject"] as? String == "usr_alice")
                #expect(put["client_id"] as? String == "cli_test")
                #expect(put["bytes_in"] as? Int == 7)
                #expect((put["bytes_out"] as? Int ?? 0) > 0)
                #expect((put["latency_us"] as? Int ?? 0) > 0)
                #expect((put["time"] as? String)?.contains(".") == true)
                let refused = try #require(records.first { $0["status"] as? Int == 401 })
                #expect(refused["subject"] is NSNull)
                #expect(!records.contains { ($0["route"] as? String)?.contains("secret") == true })
                #expect(hooks.usage.all.allSatisfy { $0.authorization == "Bearer service-token" })
            }
        }
    }

    /// Analytics down: the requests succeed as ever and the records are dropped, counted.
    @Test func analyticsDownNeverFailsARequest() async throws {
        let closed = try await GatewayHarness.closedPort()
        let usage = ReportOptions(flushInterval: .milliseconds(50), token: { "service-token" })
        try await TestUpstream.run(["users", "orders", "notifications"]) { urls in
            var urls = urls
            urls["analytics"] = "http://127.0.0.1:\(closed)"
            try await GatewayHarness.run(urls: urls, options: Self.options(usage)) { client, _ in
                for _ in 0..<5 {
                    #expect(try await client.execute(uri: "/api/orders/echo", method: .get).status == .ok)
                }
                try await waitUntil {
                    let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                    return metrics.contains("gateway_usage_records_dropped_total 5")
                }
            }
        }
    }

    /// The buffer is bounded: with nothing sent, records beyond its capacity are dropped at once, counted.
    @Test func aFullBufferDropsRecords() async throws {
        let usage = ReportOptions(bufferCapacity: 2, flushInterval: .seconds(3600))
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls, options: Self.options(usage)) { client, _ in
                for _ in 0..<5 { _ = try await client.execute(uri: "/api/orders/echo", method: .get) }
                let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                #expect(metrics.contains("gateway_usage_records_dropped_total 3"))
                #expect(metrics.contains("gateway_usage_records_total 2"))
            }
        }
    }
}
