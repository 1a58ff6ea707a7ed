import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import NIOCore
import NIOPosix
import Testing

@testable import Gateway

@Suite struct RequestLimitTests {
    static func options() -> GatewayOptions {
        var options = GatewayOptions()
        options.rateLimitingEnabled = false
        options.usageTelemetry = false
        return options
    }

    @Test func tooLargeHeadersAre431() async throws {
        let hooks = UpstreamHooks()
        var options = Self.options()
        options.maxHeaderBytes = 4096
        try await TestUpstream.run(GatewayHarness.services, hooks: hooks) { [options] urls in
            try await GatewayHarness.run(urls: urls, options: options) { client, _ in
                let big = try await client.execute(
                    uri: "/api/users/echo", method: .get,
                    headers: [HTTPField.Name("X-Big")!: String(repeating: "a", count: 5000)])
                #expect(big.status == .requestHeaderFieldsTooLarge)
                #expect(big.headers[.contentType] == Problem.contentType)
                #expect(try GatewayHarness.json(big.body)["type"] as? String == Problem.typeBase + "headers-too-large")
                // Just under the limit passes.
                let fits = try await client.execute(
                    uri: "/api/users/echo", method: .get,
                    headers: [HTTPField.Name("X-Big")!: String(repeating: "a", count: 1500)])
                #expect(fits.status == .ok)
                #expect(hooks.echoed.value == 1)
            }
        }
    }

    @Test func tooManyHeadersAre431() async throws {
        var options = Self.options()
        options.maxHeaderCount = 20
        try await TestUpstream.run(GatewayHarness.services) { [options] urls in
            try await GatewayHarness.run(urls: urls, options: options) { client, _ in
                var headers = HTTPFields()
                for index in 0..<30 { headers.append(HTTPField(name: HTTPField.Name("X-H\(index)")!, value: "v")) }
                let response = try await client.execute(uri: "/api/users/echo", method: .get, headers: headers)
                #expect(response.status == .requestHeaderFieldsTooLarge)
                #expect(try GatewayHarness.json(response.body)["type"] as? String == Problem.typeBase + "too-many-headers")
                let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                #expect(metrics.contains(#"gateway_rejected_requests_total{reason="header_count"} 1"#))
            }
        }
    }

    /// A slowloris client sends its request head a few bytes at a time, never finishing. The gateway closes the
    /// connection once the idle timeout has passed without a complete head, however steadily bytes trickle in.
    @Test func slowlorisClientIsCutOff() async throws {
        var options = Self.options()
        options.clientIdleTimeout = .milliseconds(500)
        try await TestUpstream.run(GatewayHarness.services) { [options] urls in
            try await GatewayHarness.run(urls: urls, options: options) { _, baseURL in
                let port = Int(baseURL.split(separator: ":").last!)!
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connect(host: "127.0.0.1", port: port).get()
                // On a loaded machine the gateway may already have cut the connection before a write lands; a
                // failed write is the outcome the test wants, not an error.
                _ = try? await channel.writeAndFlush(ByteBuffer(string: "GET /api/users/echo HTTP/1.1\r\nHost: x\r\n"))
                var sent = 0
                // 100 bytes over 10 s at most; a connection still open at the end would mean the client won.
                while channel.isActive, sent < 100 {
                    try await Task.sleep(for: .milliseconds(100))
                    _ = try? await channel.writeAndFlush(ByteBuffer(string: "X"))
                    sent += 1
                }
                #expect(!channel.isActive, "the gateway must close a connection whose head never completes")
                #expect(sent < 100)
                try? await channel.close()
            }
        }
    }

    /// HSTS on every response: the gateway's own, proxied ones, refusals and not-found.
    @Test func everyResponseCarriesStrictTransportSecurity() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls, options: Self.options(), signedIn: false) { client, _ in
                for (uri, status) in [
                    ("/healthz", 200), ("/api/openapi.yaml", 200), ("/api/orders/echo", 401), ("/nowhere", 404),
                    ("/.well-known/openid-configuration", 200),
                ] {
                    let response = try await client.execute(uri: uri, method: .get)
                    #expect(response.status.code == status, "\(uri)")
                    #expect(
                        response.headers[.strictTransportSecurity] == "max-age=63072000; includeSubDomains", "\(uri)")
                }
            }
        }
    }

    /// The prefixes of this step's services: notifications' resources, audit per service, and `/v1` public.
    @Test func routesTheNewPrefixes() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls, options: Self.options(), signedIn: false) { anonymous, _ in
                let ingestion = try await anonymous.execute(uri: "/v1/batch", method: .post)
                #expect(ingestion.status == .created, "/v1 is public at the gateway")
                #expect(try GatewayHarness.echo(ingestion.body).upstream == "analytics")
                #expect(try await anonymous.execute(uri: "/api/audit/orders", method: .get).status == .unauthorized)
            }
            try await GatewayHarness.run(urls: urls, options: Self.options()) { client, _ in
                for (path, service) in [
                    ("/api/push-subscriptions", "notifications"), ("/api/notification-templates/t1", "notifications"),
                    ("/api/notification-preferences/usr_1", "notifications"), ("/api/audit/users", "users"),
                    ("/api/audit/orders", "orders"), ("/api/audit/notifications", "notifications"),
                    ("/api/audit/analytics", "analytics"),
                ] {
                    let response = try await client.execute(uri: path, method: .get)
                    #expect(response.status == .ok, "\(path)")
                    #expect(try GatewayHarness.echo(response.body).upstream == service, "\(path)")
                }
                #expect(try await client.execute(uri: "/api/audit/other", method: .get).status == .notFound)
            }
        }
    }
}
