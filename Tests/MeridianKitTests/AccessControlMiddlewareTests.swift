import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Logging
import MeridianKit
import NIOCore
import Testing

/// A service-shaped router guarded by `AccessControlMiddleware`: every status and challenge of docs/identity.md.
struct GuardedRoutes {
    static let table: RouteAccessTable = [
        "GET /public": .public,
        "GET /me": .authenticated,
        // Written with Hummingbird's `:id` syntax on purpose: the table normalises it to `{id}`.
        "GET /orders/:id": .anyOf([.ordersRead, .ordersReadOwn]),
        "POST /orders": .anyOf([.ordersWrite]),
    ]

    static func router(
        verifier: any AccessTokenVerifier, table: RouteAccessTable = GuardedRoutes.table
    ) -> Router<MeridianRequestContext> {
        let router = ServiceHost.makeRouter(metrics: ServiceMetrics(service: "guarded"), readiness: Readiness())
        router.add(middleware: AccessControlMiddleware(table: table, verifier: verifier))
        router.get("/public") { _, context in context.principal?.subject ?? "anonymous" }
        router.get("/me") { _, context in try context.requirePrincipal().subject }
        router.get("/orders/{id}") { _, context -> String in
            let principal = try context.requirePrincipal()
            // The resource belongs to usr_alice; the :own rule hides it from anyone else.
            try principal.ownership(of: .ordersRead).authorize(owner: "usr_alice", notFound: .notFound("The order"))
            return "order"
        }
        router.post("/orders") { _, _ in "created" }
        router.get("/unlisted") { _, _ in "should never be served" }
        return router
    }
}

@Suite struct AccessControlMiddlewareTests {
    let issuer = TestIssuer()

    func withApp(
        verifier: (any AccessTokenVerifier)? = nil,
        _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        try await issuer.addKey("key-1")
        let verifier = verifier ?? StaticKeyTokenVerifier(keys: issuer.signingKeys, issuer: TestIssuer.issuer)
        let app = Application(router: GuardedRoutes.router(verifier: verifier))
        try await app.test(.router, body)
    }

    func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    func problemType(_ response: TestResponse) throws -> String? {
        #expect(response.headers[.contentType] == Problem.contentType)
        let body = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
        return body?["type"] as? String
    }

    @Test func noTokenIsAChallengeWithoutAnError() async throws {
        try await withApp { client in
            for headers: HTTPFields in [[:], [.authorization: "Basic Y2xpOnNlY3JldA=="]] {
                let response = try await client.execute(uri: "/me", method: .get, headers: headers)
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
                #expect(try problemType(response) == Problem.typeBase + "unauthenticated")
            }
        }
    }

    @Test func aRefusedTokenIsInvalidTokenWithTheReason() async throws {
        let expired = try await { () async throws -> String in
            try await issuer.addKey("key-0")
            return try await issuer.sign(issuer.claims(issuedAt: Date().addingTimeInterval(-700)), kid: "key-0")
        }()
        try await withApp { client in
            let cases: [(String, AccessTokenError)] = [
                (expired, .expired),
                ("not-a-jwt", .malformed),
                ("", .malformed),
            ]
            for (token, error) in cases {
                let response = try await client.execute(uri: "/me", method: .get, headers: self.bearer(token))
                #expect(response.status == .unauthorized)
                #expect(
                    response.headers[.wwwAuthenticate]
                        == #"Bearer error="invalid_token", error_description="\#(error.description)""#)
                #expect(try problemType(response) == Problem.typeBase + "invalid-token")
            }
        }
    }

    @Test func aValidTokenReachesTheHandlerWithItsPrincipal() async throws {
        try await withApp { client in
            let token = try await self.issuer.token(subject: "usr_bob")
            for scheme in ["Bearer", "bearer", "BEARER"] {
                let response = try await client.execute(
                    uri: "/me", method: .get, headers: [.authorization: "\(scheme) \(token)"])
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "usr_bob")
            }
        }
    }

    @Test func lackingEveryPermissionOfTheRuleIsForbidden() async throws {
        try await withApp { client in
            let customer = try await self.issuer.token(permissions: [.ordersReadOwn, .ordersWriteOwn])
            let response = try await client.execute(uri: "/orders", method: .post, headers: self.bearer(customer))
            #expect(response.status == .forbidden)
            #expect(response.headers[.wwwAuthenticate] == #"Bearer error="insufficient_scope""#)
            #expect(try problemType(response) == Problem.typeBase + "insufficient-permission")

            let noPermissions = try await self.issuer.token(permissions: [])
            let read = try await client.execute(uri: "/orders/ord_1", method: .get, headers: self.bearer(noPermissions))
            #expect(read.status == .forbidden)

            let clerk = try await self.issuer.token(permissions: [.ordersWrite])
            let created = try await client.execute(uri: "/orders", method: .post, headers: self.bearer(clerk))
            #expect(created.status == .ok)
        }
    }

    @Test func anOwnPermissionSeesOwnResourcesAndNotFoundForOthers() async throws {
        try await withApp { client in
            let alice = try await self.issuer.token(subject: "usr_alice", permissions: [.ordersReadOwn])
            let bob = try await self.issuer.token(subject: "usr_bob", permissions: [.ordersReadOwn])
            let support = try await self.issuer.token(subject: "usr_sam", permissions: [.ordersRead])
            let own = try await client.execute(uri: "/orders/ord_1", method: .get, headers: self.bearer(alice))
            #expect(own.status == .ok)
            let others = try await client.execute(uri: "/orders/ord_1", method: .get, headers: self.bearer(bob))
            #expect(others.status == .notFound)
            let everyone = try await client.execute(uri: "/orders/ord_1", method: .get, headers: self.bearer(support))
            #expect(everyone.status == .ok)
        }
    }

    @Test func aRouteMissingFromTheTableIsRefusedToEveryone() async throws {
        try await withApp { client in
            let admin = try await self.issuer.token(permissions: Permission.all)
            for headers in [self.bearer(admin), [:]] {
                let response = try await client.execute(uri: "/unlisted", method: .get, headers: headers)
                #expect(response.status == .forbidden)
                #expect(try problemType(response) == Problem.typeBase + "route-not-permitted")
            }
            // A path no route matches is still the router's 404, not an authentication question.
            let unknown = try await client.execute(uri: "/no/such/path", method: .get)
            #expect(unknown.status == .notFound)
            // Operational routes stay open.
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
        }
    }

    @Test func publicRoutesTakeAnyoneAndRecogniseAValidToken() async throws {
        try await withApp { client in
            let anonymous = try await client.execute(uri: "/public", method: .get)
            #expect(String(buffer: anonymous.body) == "anonymous")
            let token = try await self.issuer.token(subject: "usr_dana")
            let signedIn = try await client.execute(uri: "/public", method: .get, headers: self.bearer(token))
            #expect(String(buffer: signedIn.body) == "usr_dana")
            let invalid = try await client.execute(uri: "/public", method: .get, headers: self.bearer("junk"))
            #expect(invalid.status == .ok)
            #expect(String(buffer: invalid.body) == "anonymous")
            // Basic client authentication (as on /oauth/token) is not a bearer token and is left alone.
            let basic = try await client.execute(
                uri: "/public", method: .get, headers: [.authorization: "Basic Y2xpOnNlY3JldA=="])
            #expect(basic.status == .ok)
        }
    }

    @Test func twoAuthorizationHeadersAreABadRequest() async throws {
        try await withApp { client in
            let token = try await self.issuer.token()
            var headers = HTTPFields()
            headers.append(.init(name: .authorization, value: "Bearer \(token)"))
            headers.append(.init(name: .authorization, value: "Bearer \(token)"))
            let response = try await client.execute(uri: "/me", method: .get, headers: headers)
            #expect(response.status == .badRequest)
            #expect(response.headers[.wwwAuthenticate] == #"Bearer error="invalid_request""#)
        }
    }

    @Test func unreachableSigningKeysAreA503() async throws {
        struct Down: Error {}
        let verifier = JWKSTokenVerifier(
            issuer: TestIssuer.issuer, logger: Logger(label: "t"), source: { throw Down() })
        try await withApp(verifier: verifier) { client in
            let token = try await self.issuer.token()
            let response = try await client.execute(uri: "/me", method: .get, headers: self.bearer(token))
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "1")
        }
    }

    @Test func missingRoutesNamesEveryRouteWithoutARule() {
        let verifier = StaticKeyTokenVerifier(keys: JWTKeyCollection(), issuer: TestIssuer.issuer)
        let router = GuardedRoutes.router(verifier: verifier)
        #expect(GuardedRoutes.table.missingRoutes(router: router) == ["GET /unlisted"])
        let complete = GuardedRoutes.table.merging(["GET /unlisted": .authenticated])
        #expect(complete.missingRoutes(router: router).isEmpty)
        // A rule for a route the router lacks (a typo) is reported as unused.
        let typo = complete.merging(["GET /order/{id}": .authenticated])
        #expect(typo.unusedRules(router: router) == ["GET /order/{id}"])
        #expect(complete.unusedRules(router: router).isEmpty)
    }

    @Test func theTableReadsRoutesAsTheRouterPrintsThem() {
        let table = GuardedRoutes.table
        #expect(table["GET /orders/{id}"] == .anyOf([.ordersRead, .ordersReadOwn]))
        #expect(table["GET /orders/:id"] == .anyOf([.ordersRead, .ordersReadOwn]))
        #expect(table["PUT /orders/{id}"] == nil)
        for route in RouteAccessTable.operationalRoutes { #expect(table[route] == .public) }
    }
}
