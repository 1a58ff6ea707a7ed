import AsyncHTTPClient
import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import NIOCore
import NIOPosix

/// Runs a real gateway on a loopback port in front of the given upstream URLs.
enum GatewayHarness {
    static let services = ["users", "orders", "notifications", "analytics"]

    static func settings(_ urls: [String: String]) -> ServiceSettings {
        ServiceSettings(
            name: GatewayService.name, listen: ListenAddress(host: "127.0.0.1", port: 0), databaseURL: "",
            serviceURLs: urls)
    }

    static func run<Value: Sendable>(
        urls: [String: String], options: GatewayOptions = GatewayOptions(),
        _ body: @Sendable (any TestClientProtocol, _ baseURL: String) async throws -> Value
    ) async throws -> Value {
        let gateway = try GatewayService(settings: settings(urls), logger: Logger(label: "gateway"), options: options)
        return try await gateway.makeApplication().test(.live) { client in
            try await body(client, "http://127.0.0.1:\(client.port!)")
        }
    }

    /// A port on loopback that nothing listens on: bound, then closed again.
    static func closedPort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }

    static func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] ?? [:]
    }

    static func echo(_ buffer: ByteBuffer) throws -> Echo {
        try JSONDecoder().decode(Echo.self, from: Data(buffer.readableBytesView))
    }
}

/// An AsyncHTTPClient for the tests that need what the test client cannot do: stream bodies, send
/// hop-by-hop headers of their choosing.
enum StreamingClient {
    static func with<Value: Sendable>(_ body: (HTTPClient) async throws -> Value) async throws -> Value {
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        do {
            let value = try await body(client)
            try await client.shutdown()
            return value
        } catch {
            try await client.shutdown()
            throw error
        }
    }
}
