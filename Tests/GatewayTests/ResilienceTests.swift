import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import NIOCore
import Synchronization
import Testing

@testable import Gateway

@Suite struct ResilienceTests {
    static func options() -> GatewayOptions {
        var options = GatewayOptions()
        options.rateLimitingEnabled = false
        options.usageTelemetry = false
        return options
    }

    static func metrics(_ client: GatewayClient) async throws -> String {
        String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
    }

    /// Four slots per upstream: ingestion is shed while two are taken, reads while three are, and critical
    /// traffic (orders writes) only when all four are: analytics ingestion goes first.
    ///
    /// The slots are held by requests the upstream stalls until the test opens `hooks.release`; the test waits
    /// for their arrival at the upstream (not for time to pass), so it decides the same on any machine. They go
    /// through their own connections (the live test client has one, and HTTP/1.1 answers in order, so a stalled
    /// request there would hold up every later one).
    @Test func shedsLowerPriorityTrafficFirst() async throws {
        let hooks = UpstreamHooks()
        var options = Self.options()
        options.concurrencyPerUpstream = 4
        // The held requests wait for the test, not for a deadline: under the full suite's load, reaching the
        // fifth took longer than the default upstream timeout, and the held ones came back 504.
        options.timeouts = ["analytics": .seconds(600), "orders": .seconds(600)]
        try await TestUpstream.run(GatewayHarness.services, hooks: hooks) { [options] urls in
            try await GatewayHarness.run(urls: urls, options: options) { client, baseURL in
                try await StreamingClient.with { http in
                    let stall: @Sendable (String) async throws -> Int = { path in
                        let response = try await http.execute(client.request(baseURL + path), timeout: .seconds(60))
                        _ = try await response.body.collect(upTo: 1024)
                        return Int(response.status.code)
                    }
                    // Whatever fails below, the stalled requests are let go, so nothing waits for them forever.
                    let stalled: [Int]
                    do {
                        stalled = try await withThrowingTaskGroup(of: Int.self) { group in
                            for _ in 0..<2 { group.addTask { try await stall("/api/analytics/stall") } }
                            try await hooks.stalled.reach(2)
                            let ingestion = try await client.execute(uri: "/v1/track", method: .post)
                            #expect(ingestion.status == .serviceUnavailable)
                            #expect(ingestion.headers[.retryAfter] == "1")
                            #expect(ingestion.headers[.contentType] == Problem.contentType)
                            #expect(
                                try GatewayHarness.json(ingestion.body)["type"] as? String
                                    == Problem.typeBase + "overloaded")
                            // Reads to the same upstream still fit.
                            #expect(try await client.execute(uri: "/api/analytics/echo", method: .get).status == .ok)

                            // Orders: three stalled reads fill what reads may use; a fourth read is shed, a write
                            // is not.
                            for _ in 0..<3 { group.addTask { try await stall("/api/orders/stall") } }
                            try await hooks.stalled.reach(5)
                            let read = try await client.execute(uri: "/api/orders/echo", method: .get)
                            #expect(read.status == .serviceUnavailable)
                            #expect(read.headers[.retryAfter] == "1")
                            #expect(try await client.execute(uri: "/api/orders", method: .post).status == .created)
                            hooks.release.open()
                            var statuses: [Int] = []
                            for try await status in group { statuses.append(status) }
                            return statuses
                        }
                    } catch {
                        hooks.release.open()
                        throw error
                    }
                    #expect(stalled == [200, 200, 200, 200, 200])
                }
                let metrics = try await Self.metrics(client)
                #expect(metrics.contains(#"gateway_shed_requests_total{upstream="analytics",class="ingestion"} 1"#))
                #expect(metrics.contains(#"gateway_shed_requests_total{upstream="orders",class="reads"} 1"#))
                // Every slot came back: a slot is freed when the upstream's answer starts, before the client has it.
                #expect(metrics.contains(#"gateway_upstream_in_flight{upstream="analytics"} 0"#))
                #expect(metrics.contains(#"gateway_upstream_in_flight{upstream="orders"} 0"#))
                #expect(try await client.execute(uri: "/v1/track", method: .post).status == .created)
            }
        }
    }

    /// Failures open the breaker: requests fail at once without reaching the upstream. After the open period one
    /// probe goes through; its success closes the breaker.
    ///
    /// The breaker runs on the test's clock: the open period ends when the test moves the clock, never because
    /// a slow run took longer than the period (which would let the "open" request through as a probe).
    @Test func breakerOpensAndRecoversThroughAHalfOpenProbe() async throws {
        let hooks = UpstreamHooks()
        let clock = ManualClock()
        var options = Self.options()
        options.breaker = CircuitBreaker.Settings(
            failureRatio: 0.5, minimumRequests: 4, window: .seconds(60), openDuration: .milliseconds(300))
        options.clock = { clock.now }
        try await TestUpstream.run(GatewayHarness.services, hooks: hooks) { [options] urls in
            try await GatewayHarness.run(urls: urls, options: options) { client, _ in
                hooks.failing.set(true)
                for _ in 0..<4 {
                    #expect(try await client.execute(uri: "/api/orders/flaky", method: .get).status == .serviceUnavailable)
                }
                #expect(hooks.echoed.value == 4)
                // However long the requests above took, the open period has not passed on the breaker's clock.
                clock.advance(by: .milliseconds(299))
                let open = try await client.execute(uri: "/api/orders/flaky", method: .get)
                #expect(open.status == .serviceUnavailable)
                #expect(open.headers[.contentType] == Problem.contentType)
                #expect(try GatewayHarness.json(open.body)["type"] as? String == Problem.typeBase + "circuit-open")
                #expect(open.headers[.retryAfter] == "1")
                #expect(hooks.echoed.value == 4, "an open breaker sends nothing upstream")
                // Other upstreams are unaffected.
                #expect(try await client.execute(uri: "/api/users/echo", method: .get).status == .ok)

                hooks.failing.set(false)
                clock.advance(by: .milliseconds(1))
                #expect(try await client.execute(uri: "/api/orders/flaky", method: .get).status == .ok)
                #expect(try await client.execute(uri: "/api/orders/flaky", method: .get).status == .ok)
                // The four failures, the request to users, then the probe and the request after it.
                #expect(hooks.echoed.value == 7, "the probe and the request after it reached the upstream")
                let metrics = try await Self.metrics(client)
                #expect(metrics.contains(#"gateway_breaker_opened_total{upstream="orders"} 1"#))
                #expect(metrics.contains(#"gateway_breaker_rejected_requests_total{upstream="orders"} 1"#))
                #expect(metrics.contains(#"gateway_breaker_state{upstream="orders"} 0"#))
            }
        }
    }

    /// A half-open probe that fails opens the breaker again.
    @Test func aFailedProbeReopens() {
        let breaker = CircuitBreaker(
            settings: .init(failureRatio: 0.5, minimumRequests: 2, window: .seconds(60), openDuration: .seconds(5)))
        let start = ContinuousClock.now
        breaker.record(success: false, probe: false, now: start)
        breaker.record(success: false, probe: false, now: start)
        #expect(breaker.state == .open)
        #expect(breaker.permit(now: start + .seconds(1)) == .rejected)
        #expect(breaker.permit(now: start + .seconds(5)) == .probe)
        #expect(breaker.permit(now: start + .seconds(5)) == .rejected, "one probe at a time")
        breaker.record(success: false, probe: true, now: start + .seconds(6))
        #expect(breaker.state == .open)
        #expect(breaker.permit(now: start + .seconds(7)) == .rejected)
        #expect(breaker.permit(now: start + .seconds(11)) == .probe)
        breaker.record(success: true, probe: true, now: start + .seconds(11))
        #expect(breaker.state == .closed)
    }

    /// Unreachable upstream: GETs are retried while the budget lasts (half a retry per request here, nothing
    /// free), POSTs never. Every request still ends in a 503 problem, none hangs.
    @Test func retriesOnlyIdempotentRequestsWithinTheBudget() async throws {
        let closed = try await GatewayHarness.closedPort()
        var options = Self.options()
        options.retryBudget = RetryBudget.Settings(ratio: 0.5, minimumPerSecond: 0, maximum: 10)
        options.breaker = CircuitBreaker.Settings(minimumRequests: 1000)
        try await TestUpstream.run(["users"]) { [options] urls in
            var urls = urls
            for service in ["orders", "notifications", "analytics"] { urls[service] = "http://127.0.0.1:\(closed)" }
            try await GatewayHarness.run(urls: urls, options: options) { client, _ in
                for _ in 0..<4 {
                    let response = try await client.execute(uri: "/api/notifications/x", method: .get)
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] == "1")
                }
                for _ in 0..<2 {
                    #expect(try await client.execute(uri: "/api/orders", method: .post).status == .serviceUnavailable)
                }
                let metrics = try await Self.metrics(client)
                #expect(metrics.contains(#"gateway_upstream_retries_total{upstream="notifications"} 2"#))
                #expect(metrics.contains(#"gateway_retry_budget_exhausted_total{upstream="notifications"} 2"#))
                #expect(!metrics.contains(#"gateway_upstream_retries_total{upstream="orders"} 1"#))
                #expect(metrics.contains(#"gateway_upstream_failures_total{upstream="orders"} 2"#))
            }
        }
    }

    @Test func sheddingThresholdsFollowPriority() {
        let shedder = LoadShedder(capacity: 10)
        #expect((0..<6).map { _ in shedder.acquire(.low) } == [true, true, true, true, true, false])
        #expect((0..<4).map { _ in shedder.acquire(.normal) } == [true, true, true, false])
        #expect((0..<3).map { _ in shedder.acquire(.critical) } == [true, true, false])
        shedder.release()
        #expect(shedder.acquire(.critical))
        #expect(shedder.current == 10)
    }
}

/// A clock that moves only when a test moves it.
final class ManualClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { instant.withLock { $0 } }
    func advance(by duration: Duration) { instant.withLock { $0 += duration } }
}
