import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import Synchronization
import Testing

@testable import Orders

/// The users service as the orders service sees it at start-up: `/readyz`, and the JWKS with the test key,
/// which (like the real one) has no keys to publish until it is ready. Served live over HTTP.
final class UsersStandIn: Sendable {
    let tokens: TestTokens
    private let ready: Atomic<Bool>
    private let jwksHits = Atomic<Int>(0)

    init(tokens: TestTokens, ready: Bool) {
        self.tokens = tokens
        self.ready = Atomic(ready)
    }

    var fetchCount: Int { jwksHits.load(ordering: .acquiring) }
    func becomeReady() { ready.store(true, ordering: .releasing) }

    /// Runs `body` with the stand-in listening, passing its base URL.
    func serve(_ body: @escaping @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.get("/readyz") { _, _ -> Response in
            Response(status: self.ready.load(ordering: .acquiring) ? .ok : .serviceUnavailable)
        }
        router.get("/.well-known/jwks.json") { _, _ -> Response in
            self.jwksHits.add(1, ordering: .acquiringAndReleasing)
            guard self.ready.load(ordering: .acquiring) else { return Response(status: .serviceUnavailable) }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: try self.tokens.jwksJSON()))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            logger: Logger(label: "users-stand-in"))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            try await body("http://127.0.0.1:\(port)")
        }
    }
}

/// Without an injected verifier, the service verifies tokens against the users service's JWKS, and loads it
/// at start-up when users is ready, without ever failing or poisoning its start for lack of users.
@Suite struct SigningKeysStartupTests {
    func service(usersURL: String) throws -> OrdersService {
        try OrdersService(
            settings: orderSettings(.sqlite, serviceURLs: ["users": usersURL]), logger: quietLogger(),
            userDirectory: InMemoryUserDirectory([]))
    }

    func knownKeys(_ service: OrdersService) throws -> Set<String> {
        try #require(service.verifier as? JWKSTokenVerifier).knownKeyIDs
    }

    @Test func theKeysAreLoadedBeforeTheFirstRequestWhenUsersIsReady() async throws {
        let users = UsersStandIn(tokens: await TestTokens.make(), ready: true)
        try await users.serve { url in
            let service = try service(usersURL: url)
            try await service.makeApplication().test(.router) { client in
                #expect(try knownKeys(service) == [TestTokens.keyID])
                #expect(users.fetchCount == 1)
                let support = try await users.tokens.token(.support, subject: Identifier.make(prefix: "usr"))
                let response = try await BearerClient(client, token: support).get("/api/orders")
                #expect(response.status == .ok)
                #expect(users.fetchCount == 1)
            }
        }
    }

    /// A fetch spent while users is starting would refuse every token for a while; none is spent, and the
    /// first request after users is up fetches the keys itself.
    @Test func aUsersServiceStillStartingIsNotAskedForKeys() async throws {
        let users = UsersStandIn(tokens: await TestTokens.make(), ready: false)
        try await users.serve { url in
            let service = try service(usersURL: url)
            try await service.makeApplication().test(.router) { client in
                #expect(try await client.get("/readyz").status == .ok)
                #expect(try knownKeys(service).isEmpty)
                #expect(users.fetchCount == 0)

                users.becomeReady()
                let support = try await users.tokens.token(.support, subject: Identifier.make(prefix: "usr"))
                let response = try await BearerClient(client, token: support).get("/api/orders")
                #expect(response.status == .ok)
                #expect(users.fetchCount == 1)
            }
        }
    }

    /// Users down: the service still starts and serves; a token it cannot check yet is a 503, not a 401.
    @Test func theServiceStartsWhileUsersIsDown() async throws {
        let tokens = await TestTokens.make()
        let service = try service(usersURL: "http://127.0.0.1:1")
        try await service.makeApplication().test(.router) { client in
            #expect(try await client.get("/readyz").status == .ok)
            let support = try await tokens.token(.support, subject: Identifier.make(prefix: "usr"))
            let response = try await BearerClient(client, token: support).get("/api/orders")
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] != nil)
        }
    }
}
