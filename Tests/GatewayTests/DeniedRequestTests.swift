import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import NIOCore
import Testing

@testable import Gateway

/// The gateway keeps no database: the requests its token check refuses are reported to analytics, which keeps
/// them in its audit log. A refusal's report names the route template, the status and reason, the request id
/// the client got, the source address and the time; it goes with the service token.
@Suite struct DeniedRequestTests {
    @Test func refusalsAreReportedWithTheirRequest() async throws {
        let hooks = UpstreamHooks()
        let options = UsageTelemetryTests.options(ReportOptions(flushInterval: .milliseconds(50), token: { "service-token" }))
        try await TestUpstream.run(GatewayHarness.services, hooks: hooks) { urls in
            try await GatewayHarness.run(urls: urls, options: options) { client, _ in
                let anonymous = GatewayClient(base: client.base, token: nil)
                let missing = try await anonymous.execute(uri: "/api/orders/ord_secret", method: .get)
                #expect(missing.status == .unauthorized)
                let forged = GatewayClient(base: client.base, token: "not.a.token")
                let invalid = try await forged.execute(uri: "/api/users", method: .get)
                #expect(invalid.status == .unauthorized)
                // An admitted request is not a refusal.
                #expect(try await client.execute(uri: "/api/orders/ord_1", method: .get).status == .ok)

                try await waitUntil { hooks.denials.records.count >= 2 }
                let reports = hooks.denials.records
                #expect(reports.count == 2)
                let first = try #require(reports.first { $0["reason"] as? String == "unauthenticated" })
                #expect(first["route"] as? String == "GET /api/orders/**")
                #expect(first["status"] as? Int == 401)
                #expect(first["request_id"] as? String == missing.headers[.requestID])
                #expect(first["source_address"] as? String == "127.0.0.1")
                #expect(first["subject"] is NSNull)
                #expect((first["denied_at"] as? String).flatMap(Timestamp.parse) != nil)
                let second = try #require(reports.first { $0["reason"] as? String == "invalid-token" })
                #expect(second["route"] as? String == "GET /api/users")
                #expect(second["request_id"] as? String == invalid.headers[.requestID])
                // The route template, never the path: no identifier travels in a report.
                #expect(!reports.contains { ($0["route"] as? String)?.contains("secret") == true })
                #expect(hooks.denials.all.allSatisfy { $0.authorization == "Bearer service-token" })
                // The rejected token itself is never sent on.
                #expect(!hooks.denials.all.contains { String(decoding: $0.body, as: UTF8.self).contains("not.a.token") })
            }
        }
    }

    /// Anyone can send bad tokens: alike refusals within one reporting window are one report with a count, the
    /// first request's id and the time of the last, and distinct ones beyond the window's capacity are dropped
    /// and counted, never queued without bound.
    @Test func aFloodOfRefusalsIsCountedNotRepeated() async throws {
        let hooks = UpstreamHooks()
        let usage = ReportOptions(bufferCapacity: 2, flushInterval: .seconds(3600), token: { "service-token" })
        try await TestUpstream.run(GatewayHarness.services, hooks: hooks) { urls in
            let gateway = try GatewayService(
                settings: GatewayHarness.settings(urls), logger: Logger(label: "gateway"),
                options: UsageTelemetryTests.options(usage))
            try await GatewayHarness.run(gateway, signedIn: false) { client, _ in
                var first: String?
                for _ in 0..<5 {
                    let reply = try await client.execute(uri: "/api/orders", method: .get)
                    #expect(reply.status == .unauthorized)
                    first = first ?? reply.headers[.requestID]
                }
                #expect(try await client.execute(uri: "/api/users", method: .get).status == .unauthorized)
                // A third distinct refusal finds the window full.
                #expect(try await client.execute(uri: "/api/roles", method: .get).status == .unauthorized)

                let reports = gateway.deniedRequests.drain(upTo: 10)
                #expect(reports.map(\.route) == ["GET /api/orders", "GET /api/users"])
                #expect(reports.map(\.count) == [5, 1])
                #expect(reports.first?.actor.requestID == first)
                let orders = try #require(reports.first)
                #expect(try #require(orders.lastDeniedAt) >= (try #require(orders.deniedAt)))
                let metrics = try await client.execute(uri: "/metrics", method: .get)
                let text = String(buffer: metrics.body)
                #expect(text.contains("gateway_denial_records_total 6\n"))
                #expect(text.contains("gateway_denial_records_dropped_total 1\n"))
            }
        }
    }

    /// Turning usage telemetry off does not turn the audit of refusals off.
    @Test func refusalsAreReportedWithUsageTelemetryOff() async throws {
        let hooks = UpstreamHooks()
        let options = UsageTelemetryTests.options(nil)
        try await TestUpstream.run(GatewayHarness.services, hooks: hooks) { urls in
            try await GatewayHarness.run(urls: urls, options: options, signedIn: false) { client, _ in
                #expect(try await client.execute(uri: "/api/orders", method: .get).status == .unauthorized)
                // The default flush interval is a second.
                try await waitUntil(timeout: .seconds(20)) { hooks.denials.records.count == 1 }
                #expect(hooks.usage.all.isEmpty)
            }
        }
    }
}
