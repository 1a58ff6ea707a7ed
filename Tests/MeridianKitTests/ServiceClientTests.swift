import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import NIOCore
import Testing

/// Calls to another service: its headers come back with the reply, and a reply longer than the caller accepts
/// is told apart from a service that cannot be reached (one is the peer's answer, the other is retried later).
@Suite struct ServiceClientTests {
    static func withPeer(_ test: @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.get("/small") { _, _ -> Response in
            Response(
                status: .unauthorized, headers: [.wwwAuthenticate: #"Bearer error="invalid_token""#],
                body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        router.get("/large") { _, _ -> Response in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: UInt8(ascii: "a"), count: 3 << 20)))
        }
        var logger = Logger(label: "service-client-tests")
        logger.logLevel = .critical
        let peer = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        try await peer.test(.live) { client in
            try await test("http://127.0.0.1:\(try #require(client.port))")
        }
    }

    @Test func theReplyCarriesThePeersHeaders() async throws {
        try await Self.withPeer { url in
            let reply = try await ServiceClient(service: "peer", baseURL: url).send(.GET, "/small")
            #expect(reply.status == 401)
            #expect(reply.headers["WWW-Authenticate"] == [#"Bearer error="invalid_token""#])
        }
    }

    @Test func aReplyOverTheLimitIsTooLargeNotUnavailable() async throws {
        try await Self.withPeer { url in
            let client = ServiceClient(service: "peer", baseURL: url)
            await #expect(throws: ServiceClient.ReplyTooLarge.self) {
                try await client.send(.GET, "/large", maxBytes: 1 << 20)
            }
            let whole = try await client.send(.GET, "/large", maxBytes: 4 << 20)
            #expect(whole.body.readableBytes == 3 << 20)
            await #expect(throws: ServiceClient.Unavailable.self) {
                try await ServiceClient(service: "peer", baseURL: "http://127.0.0.1:1").send(.GET, "/small")
            }
        }
    }
}
