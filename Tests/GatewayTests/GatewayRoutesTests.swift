import Foundation
import Gateway
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import NIOCore
import Testing

@Suite struct GatewayRoutesTests {
    static let urls = Dictionary(uniqueKeysWithValues: GatewayHarness.services.map { ($0, "http://127.0.0.1:9") })

    @Test func servesTheOpenAPIDocument() async throws {
        let source = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Gateway/Resources/openapi.yaml")
        let expected = try Data(contentsOf: source)
        try await GatewayHarness.run(urls: Self.urls) { client, _ in
            let response = try await client.execute(uri: "/api/openapi.yaml", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/yaml")
            #expect(Data(response.body.readableBytesView) == expected)
            #expect(String(buffer: response.body).hasPrefix("openapi: 3.1"))
        }
    }

    @Test func isHealthyAndReadyOnceListening() async throws {
        try await GatewayHarness.run(urls: Self.urls) { client, _ in
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            #expect(try GatewayHarness.json(ready.body)["status"] as? String == "ready")
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(metrics.status == .ok)
            #expect(String(buffer: metrics.body).contains(#"route="/readyz""#))
        }
    }

    @Test func proxiedRoutesAreMeasuredByPrefix() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls) { client, _ in
                _ = try await client.execute(uri: "/api/orders/ord_123", method: .get)
                let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                #expect(metrics.contains(#"route="/api/orders/**""#))
                #expect(!metrics.contains("ord_123"))
            }
        }
    }
}
