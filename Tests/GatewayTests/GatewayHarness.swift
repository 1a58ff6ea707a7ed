import AsyncHTTPClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif
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

    /// A port on loopback that refuses connections for the rest of the test process: a socket bound to it and
    /// never listening (Linux answers a connection with RST), held open so that no other test's server can be
    /// given the port meanwhile (a port bound and closed again was, under the full suite's load).
    static func closedPort() async throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ClosedPortError(step: "socket", code: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else { throw ClosedPortError(step: "bind", code: errno) }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw ClosedPortError(step: "getsockname", code: errno) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    struct ClosedPortError: Error {
        let step: String
        let code: Int32
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
