import AsyncHTTPClient
import Foundation
import Gateway
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import NIOCore
import Testing

@Suite struct ProxyFailureTests {
    @Test func closedUpstreamPortIs503WithRetryAfter() async throws {
        let closed = try await GatewayHarness.closedPort()
        // users stays up: it publishes the keys the gateway checks tokens with.
        try await TestUpstream.run(["users", "orders"]) { urls in
            var urls = urls
            for service in ["notifications", "analytics"] { urls[service] = "http://127.0.0.1:\(closed)" }
            try await GatewayHarness.run(urls: urls) { client, _ in
                for path in ["/api/analytics", "/api/notifications/x"] {
                    let response = try await client.execute(uri: path, method: .get)
                    #expect(response.status == .serviceUnavailable, "\(path)")
                    #expect(response.headers[.contentType] == Problem.contentType)
                    #expect(response.headers[.retryAfter] == "1")
                    #expect(try GatewayHarness.json(response.body)["status"] as? Int == 503)
                }
                // The other upstreams are unaffected.
                for path in ["/api/orders", "/api/users"] {
                    let response = try await client.execute(uri: path, method: .get)
                    #expect(response.status == .ok, "\(path)")
                }
            }
        }
    }

    @Test func stalledUpstreamIs504AfterItsTimeout() async throws {
        let hooks = UpstreamHooks()
        try await TestUpstream.run(GatewayHarness.services, hooks: hooks) { urls in
            let options = GatewayOptions(timeouts: ["users": .milliseconds(300)])
            try await GatewayHarness.run(urls: urls, options: options) { client, _ in
                let response = try await client.execute(uri: "/api/users/stall", method: .get)
                hooks.release.open()
                #expect(response.status == .gatewayTimeout)
                #expect(response.headers[.contentType] == Problem.contentType)
                let problem = try GatewayHarness.json(response.body)
                #expect(problem["status"] as? Int == 504)
                #expect((problem["detail"] as? String)?.contains("users") == true)
                // The short timeout is the users upstream's alone: orders keeps the default.
                let orders = try await client.execute(uri: "/api/orders/echo", method: .get)
                #expect(orders.status == .ok)
            }
        }
    }

    @Test func bodyOverTheLimitIs413() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            let options = GatewayOptions(maxRequestBodySize: 1024)
            try await GatewayHarness.run(urls: urls, options: options) { client, baseURL in
                let declared = try await client.execute(
                    uri: "/api/users", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(repeating: UInt8(ascii: "a"), count: 1025))
                #expect(declared.status == .contentTooLarge)
                #expect(declared.headers[.contentType] == Problem.contentType)
                #expect(declared.headers[HTTPField.Name("X-Upstream")!] == nil)

                let atLimit = try await client.execute(
                    uri: "/api/users", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(repeating: UInt8(ascii: "a"), count: 1024))
                #expect(atLimit.status == .created)

                // A chunked body announces no length: it is counted while it streams.
                try await StreamingClient.with { http in
                    let chunks = [ByteBuffer(repeating: 1, count: 800), ByteBuffer(repeating: 2, count: 800)]
                    var request = client.request(baseURL + "/api/users/upload")
                    request.method = .POST
                    request.body = .stream(chunks.async, length: .unknown)
                    let response = try await http.execute(request, timeout: .seconds(10))
                    let body = try await response.body.collect(upTo: 1 << 16)
                    #expect(response.status.code == 413)
                    #expect(response.headers["content-type"] == [Problem.contentType])
                    #expect(try GatewayHarness.json(body)["status"] as? Int == 413)
                }
            }
        }
    }

    @Test func missingOrMalformedUpstreamURLFailsAtStartUp() throws {
        var urls = [
            "users": "http://127.0.0.1:1", "orders": "http://127.0.0.1:2", "notifications": "http://127.0.0.1:3",
        ]
        #expect(throws: ServiceSettings.Missing.self) {
            try GatewayService(settings: GatewayHarness.settings(urls), logger: .init(label: "t"))
        }
        for bad in ["127.0.0.1:4", "ftp://host", "http://", "http://host/?q=1"] {
            urls["analytics"] = bad
            #expect(throws: GatewayConfigurationError.self, "\(bad)") {
                try GatewayService(settings: GatewayHarness.settings(urls), logger: .init(label: "t"))
            }
        }
        urls["analytics"] = "http://127.0.0.1:4/"
        #expect(throws: GatewayConfigurationError.self) {
            try GatewayService(
                settings: GatewayHarness.settings(urls), logger: .init(label: "t"),
                options: GatewayOptions(timeouts: ["orders": .zero]))
        }
        _ = try GatewayService(settings: GatewayHarness.settings(urls), logger: .init(label: "t"))
    }
}

extension Array where Element: Sendable {
    /// The elements as an async sequence, for streamed request bodies.
    var async: AsyncStream<Element> {
        AsyncStream { continuation in
            for element in self { continuation.yield(element) }
            continuation.finish()
        }
    }
}
