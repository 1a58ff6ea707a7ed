import AsyncHTTPClient
import Foundation
import Gateway
import HTTPTypes
import HummingbirdTesting
import JWTKit
import Logging
import MeridianKit
import NIOCore
import Testing

/// The gateway's token check (docs/identity.md): every `/api` route but the public list needs a valid token,
/// checked against the JWKS the gateway fetches from the users upstream; refusals are RFC 6750 challenges and
/// never reach an upstream.
@Suite struct TokenCheckTests {
    /// Routes that need a token, one per prefix and several methods.
    static let protected: [(HTTPRequest.Method, String)] = [
        (.get, "/api/users"), (.get, "/api/users/usr_1"), (.delete, "/api/users/usr_1"),
        (.post, "/api/users/usr_1/roles"), (.get, "/api/orders"), (.post, "/api/orders"),
        (.put, "/api/orders/ord_1"), (.get, "/api/roles"), (.post, "/api/clients"),
        (.get, "/api/notifications"), (.get, "/api/analytics/events"),
    ]

    func problem(_ response: TestResponse) throws -> [String: Any] {
        #expect(response.headers[.contentType] == Problem.contentType)
        return try GatewayHarness.json(response.body)
    }

    @Test func aValidTokenPassesAndReachesTheUpstreamUnchanged() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls) { client, _ in
                for (method, path) in Self.protected {
                    let response = try await client.execute(
                        uri: path, method: method, headers: [.contentType: "application/json"],
                        body: method == .get || method == .delete ? nil : ByteBuffer(string: "{}"))
                    #expect(response.status == (method == .post ? .created : .ok), "\(method) \(path)")
                    let echo = try GatewayHarness.echo(response.body)
                    #expect(echo.values("authorization") == [client.authorization], "\(method) \(path)")
                }
            }
        }
    }

    @Test func aMissingTokenIsABareBearerChallenge() async throws {
        let hooks = UpstreamHooks()
        try await TestUpstream.run(GatewayHarness.services, hooks: hooks) { urls in
            try await GatewayHarness.run(urls: urls, signedIn: false) { client, _ in
                // Basic is how clients authenticate at /oauth/token; on the API it is no bearer token.
                for headers: HTTPFields in [[:], [.authorization: "Basic Y2xpOnNlY3JldA=="]] {
                    for (method, path) in Self.protected {
                        let response = try await client.execute(uri: path, method: method, headers: headers)
                        #expect(response.status == .unauthorized, "\(method) \(path)")
                        #expect(response.headers[.wwwAuthenticate] == "Bearer", "\(method) \(path)")
                        #expect(try problem(response)["status"] as? Int == 401)
                    }
                }
            }
        }
        #expect(hooks.echoed.value == 0)
    }

    @Test func refusedTokensAreInvalidTokenChallengesThatNeverReachAnUpstream() async throws {
        let issuer = TestIssuer.shared
        let valid = try await issuer.token()
        let parts = valid.split(separator: ".").map(String.init)
        // The payload of another subject, under the original signature.
        let otherPayload = try await issuer.token(subject: "usr_mallory").split(separator: ".")[1]
        let refused: [(String, String)] = [
            ("expired", try await issuer.sign(issuer.claims(issuedAt: Date().addingTimeInterval(-700)))),
            ("tampered", "\(parts[0]).\(otherPayload).\(parts[2])"),
            ("signed by an unpublished key", try await issuer.sign(issuer.claims(), with: ES256PrivateKey())),
            ("wrong audience", try await issuer.sign(issuer.claims(audience: "another-api"))),
            ("wrong issuer", try await issuer.sign(issuer.claims(issuer: "https://evil.test"))),
            ("not a JWT", "not-a-jwt"),
            ("empty", ""),
        ]
        let hooks = UpstreamHooks()
        try await TestUpstream.run(GatewayHarness.services, hooks: hooks) { urls in
            try await GatewayHarness.run(urls: urls, signedIn: false) { client, _ in
                for (name, token) in refused {
                    for (method, path) in Self.protected {
                        let response = try await client.execute(
                            uri: path, method: method, headers: [.authorization: "Bearer \(token)"])
                        #expect(response.status == .unauthorized, "\(name): \(method) \(path)")
                        let challenge = response.headers[.wwwAuthenticate] ?? ""
                        #expect(challenge.hasPrefix(#"Bearer error="invalid_token""#), "\(name): \(challenge)")
                        let body = try problem(response)
                        #expect(body["status"] as? Int == 401)
                        #expect(body["type"] as? String == Problem.typeBase + "invalid-token")
                    }
                }
                // The same requests with the valid token pass: the refusals were about the tokens.
                let response = try await client.execute(
                    uri: "/api/orders", method: .get, headers: [.authorization: "Bearer \(valid)"])
                #expect(response.status == .ok)
            }
        }
        #expect(hooks.echoed.value == 1)
    }

    @Test func theReasonOfARefusalIsNamed() async throws {
        let issuer = TestIssuer.shared
        let cases: [(String, AccessTokenError)] = [
            (try await issuer.sign(issuer.claims(issuedAt: Date().addingTimeInterval(-700))), .expired),
            (try await issuer.sign(issuer.claims(audience: "another-api")), .wrongAudience),
            (try await issuer.sign(issuer.claims(issuer: "https://evil.test")), .wrongIssuer),
            (try await issuer.sign(issuer.claims(), with: ES256PrivateKey()), .badSignature),
        ]
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls, signedIn: false) { client, _ in
                for (token, error) in cases {
                    let response = try await client.execute(
                        uri: "/api/users", method: .get, headers: [.authorization: "Bearer \(token)"])
                    #expect(
                        response.headers[.wwwAuthenticate]
                            == #"Bearer error="invalid_token", error_description="\#(error.description)""#)
                    #expect(try problem(response)["detail"] as? String == error.description)
                }
            }
        }
    }

    @Test func publicRoutesNeedNoToken() async throws {
        let hooks = UpstreamHooks()
        try await TestUpstream.run(GatewayHarness.services, hooks: hooks) { urls in
            try await GatewayHarness.run(urls: urls, signedIn: false) { client, _ in
                let openAPI = try await client.execute(uri: "/api/openapi.yaml", method: .get)
                #expect(openAPI.status == .ok)
                for path in ["/healthz", "/readyz", "/metrics"] {
                    #expect(try await client.execute(uri: path, method: .get).status == .ok, "\(path)")
                }
                let proxied: [(HTTPRequest.Method, String)] = [
                    // Self-registration: the users service decides whether it is allowed.
                    (.post, "/api/users"),
                    (.get, "/oauth/authorize?response_type=code&client_id=meridian-cli"),
                    (.post, "/oauth/authorize"), (.post, "/oauth/token"), (.post, "/oauth/revoke"),
                    (.post, "/oauth/introspect"), (.get, "/.well-known/oauth-authorization-server"),
                    (.get, "/.well-known/openid-configuration"),
                ]
                // A junk token on a public route is left for the service to judge.
                for headers: HTTPFields in [[:], [.authorization: "Bearer junk"]] {
                    for (method, path) in proxied {
                        let response = try await client.execute(
                            uri: path, method: method, headers: headers,
                            body: method == .post ? ByteBuffer(string: "grant_type=x") : nil)
                        #expect(response.status == (method == .post ? .created : .ok), "\(method) \(path)")
                        let echo = try GatewayHarness.echo(response.body)
                        #expect(echo.upstream == "users", "\(method) \(path)")
                        #expect(echo.values("authorization") == headers[values: .authorization])
                    }
                }
                #expect(hooks.echoed.value == proxied.count * 2)
            }
        }
    }

    @Test func theJWKSIsServedByTheUsersUpstream() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls, signedIn: false) { client, _ in
                let response = try await client.execute(uri: "/.well-known/jwks.json", method: .get)
                #expect(response.status == .ok)
                #expect(response.headers[HTTPField.Name("X-Upstream")!] == "users")
                let jwks = try JSONDecoder().decode(JWKS.self, from: Data(response.body.readableBytesView))
                #expect(jwks.keys.map(\.keyIdentifier?.string) == [TestIssuer.shared.keyID])
            }
        }
    }

    @Test func keysAreFetchedOnceNotPerRequest() async throws {
        let issuer = TestIssuer(keyID: "key-once")
        let tokens = [try await issuer.token(), try await issuer.token(subject: "usr_bob")]
        try await TestUpstream.run(GatewayHarness.services, issuer: issuer) { urls in
            let gateway = try GatewayService(
                settings: GatewayHarness.settings(urls), logger: Logger(label: "gateway"))
            try await GatewayHarness.run(gateway, signedIn: false) { client, _ in
                for round in 0..<10 {
                    for token in tokens {
                        let response = try await client.execute(
                            uri: "/api/orders?round=\(round)", method: .get,
                            headers: [.authorization: "Bearer \(token)"])
                        #expect(response.status == .ok)
                    }
                }
                // Each token was verified once and then served from the cache on the request path.
                #expect(gateway.verifiedTokens.count == tokens.count)
            }
        }
        #expect(issuer.fetchCount == 1)
    }

    @Test func unavailableKeysAre503NotARefusal() async throws {
        let closed = try await GatewayHarness.closedPort()
        let hooks = UpstreamHooks()
        try await TestUpstream.run(["orders", "notifications", "analytics"], hooks: hooks) { urls in
            var urls = urls
            urls["users"] = "http://127.0.0.1:\(closed)"
            try await GatewayHarness.run(urls: urls) { client, _ in
                let response = try await client.execute(uri: "/api/orders", method: .get)
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                #expect(response.headers[.wwwAuthenticate] == nil)
                #expect(try problem(response)["status"] as? Int == 503)
                // The public document does not depend on the keys.
                #expect(try await client.execute(uri: "/api/openapi.yaml", method: .get).status == .ok)
            }
        }
        #expect(hooks.echoed.value == 0)
    }

    @Test func everyRouteHasARuleAndOnlyTheListedOnesArePublic() async throws {
        let urls = Dictionary(uniqueKeysWithValues: GatewayHarness.services.map { ($0, "http://127.0.0.1:9") })
        let gateway = try GatewayService(settings: GatewayHarness.settings(urls), logger: Logger(label: "gateway"))
        let table = GatewayService.accessTable
        try await StreamingClient.with { http in
            let router = gateway.makeRouter(client: http)
            #expect(table.missingRoutes(router: router) == [])
            #expect(table.unusedRules(router: router) == [])
        }
        let publicRoutes = table.routes.filter { table[$0] == .public }
        let expected = ["GET /api/openapi.yaml", "POST /api/users"] + RouteAccessTable.operationalRoutes
        for route in publicRoutes {
            let path = route.split(separator: " ")[1]
            // `/v1` is analytics' Segment-compatible ingestion, authenticated there by its write key.
            let underPublicPrefix = ["/oauth", "/.well-known", "/v1"].contains { path == $0 || path.hasPrefix($0 + "/") }
            #expect(underPublicPrefix || expected.contains(route), "\(route) is public but not on the list")
        }
        // The merged audit list is the gateway's own route, and the one it checks a permission on.
        #expect(table["GET /api/audit"] == .anyOf([.auditRead]))
        for route in table.routes where !publicRoutes.contains(route) && route != "GET /api/audit" {
            #expect(table[route] == .authenticated, "\(route)")
        }
        #expect(table["GET /api/users"] == .authenticated)
        #expect(table["POST /api/users/**"] == .authenticated)
        #expect(table["POST /oauth/**"] == .public)
        #expect(table["GET /.well-known/**"] == .public)
        #expect(table["POST /v1/**"] == .public)
        #expect(table["GET /api/audit/orders"] == .authenticated)
    }
}
