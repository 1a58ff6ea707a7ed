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

/// Runs a real gateway on a loopback port in front of the given upstream URLs. The gateway verifies tokens as
/// in production: against the JWKS it fetches from the users URL.
enum GatewayHarness {
    static let services = ["users", "orders", "notifications", "analytics"]

    static func settings(_ urls: [String: String]) -> ServiceSettings {
        ServiceSettings(
            name: GatewayService.name, listen: ListenAddress(host: "127.0.0.1", port: 0), databaseURL: "",
            serviceURLs: urls, issuer: TestIssuer.issuer)
    }

    /// - Parameter signedIn: whether requests without an `Authorization` header get a valid token of
    ///   `TestIssuer.shared` (what the proxy tests want: they are about forwarding, not the token check).
    static func run<Value: Sendable>(
        urls: [String: String], options: GatewayOptions = GatewayOptions(), signedIn: Bool = true,
        _ body: @Sendable (GatewayClient, _ baseURL: String) async throws -> Value
    ) async throws -> Value {
        let gateway = try GatewayService(settings: settings(urls), logger: Logger(label: "gateway"), options: options)
        return try await run(gateway, signedIn: signedIn, body)
    }

    static func run<Value: Sendable>(
        _ gateway: GatewayService, signedIn: Bool = true,
        _ body: @Sendable (GatewayClient, _ baseURL: String) async throws -> Value
    ) async throws -> Value {
        let token = signedIn ? try await TestIssuer.shared.token() : nil
        return try await gateway.makeApplication().test(.live) { client in
            try await body(GatewayClient(base: client, token: token), "http://127.0.0.1:\(client.port!)")
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

/// The live test client, adding `Authorization: Bearer <token>` to requests that carry no `Authorization`.
struct GatewayClient: TestClientProtocol {
    let base: any TestClientProtocol
    /// The token added by default; nil for an anonymous client.
    let token: String?

    var port: Int? { base.port }

    /// The header value of the default token, for requests sent with another client.
    var authorization: String { token.map { "Bearer \($0)" } ?? "" }

    /// A request for AsyncHTTPClient, signed in like this client's own requests.
    func request(_ url: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        if token != nil { request.headers.add(name: "Authorization", value: authorization) }
        return request
    }

    func executeRequest(
        uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?
    ) async throws -> TestResponse {
        var headers = headers
        if let token, headers[.authorization] == nil { headers[.authorization] = "Bearer \(token)" }
        return try await base.executeRequest(uri: uri, method: method, headers: headers, body: body)
    }
}
