import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import Testing

@testable import Users

/// `GET /oauth/authorize`: what is shown, what is redirected, and what is refused (RFC 6749 4.1, RFC 7636,
/// RFC 9700 sections 2.1 and 4.1).
@Suite struct AuthorizeEndpointTests {
    static let registered = "https://app.example/callback"

    /// Every variant is a different URI: none may receive a code or even an error redirect.
    static let redirectVariants = [
        "https://app.example/callback/",  // trailing slash
        "https://app.example/callback/extra",  // extra path
        "https://app.example/callbac",  // prefix
        "https://app.example/callback?next=1",  // added query
        "https://app.example/callback#fragment",
        "https://evil.example/callback",  // other host
        "https://app.example.evil.example/callback",
        "http://app.example/callback",  // http instead of https
        "https://user@app.example/callback",  // userinfo
        "https://app.example@evil.example/callback",
        "https://APP.example/callback",  // case
        "https://app.example:8443/callback",  // port
        "http://127.0.0.1:5000/callback/",  // loopback with trailing slash
        "http://127.0.0.1:5000/other",
        "http://localhost:5000/callback",  // localhost is not the loopback address
        "http://127.0.0.1.evil.example/callback",
        "http://127.0.0.1@evil.example/callback",
        "http://[::1]:5000/callback",  // only 127.0.0.1 is registered
        "https://127.0.0.1:5000/callback",
    ]

    @Test(arguments: TestDatabase.engines)
    func aClientIDNoClientCanHaveGetsTheUnknownClientPage(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, _ in
            for clientID in ["cli_\u{0}x", "cli with spaces", "clïent", String(repeating: "c", count: 201)] {
                let response = try await client.execute(uri: authorizeURI(clientID: clientID), method: .get)
                #expect(response.status == .badRequest, "\(clientID.debugDescription)")
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(String(buffer: response.body).contains("not registered here"))
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func unregisteredRedirectURIsGetAnErrorPageNeverARedirect(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let app = try await service.createClient(
                name: "App", kind: .public, redirectURIs: [Self.registered, "http://127.0.0.1/callback"])
            for variant in Self.redirectVariants {
                let response = try await client.execute(
                    uri: authorizeURI(clientID: app.client.id, redirectURI: variant), method: .get)
                #expect(response.status == .badRequest, "\(variant)")
                #expect(response.headers[.location] == nil, "\(variant)")
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(String(buffer: response.body).contains("not registered"), "\(variant)")
            }
            // The exact URI, and the loopback one on any port, are accepted.
            for good in [Self.registered, "http://127.0.0.1:5000/callback", "http://127.0.0.1/callback"] {
                let response = try await client.execute(
                    uri: authorizeURI(clientID: app.client.id, redirectURI: good), method: .get)
                #expect(response.status == .ok, "\(good)")
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func unknownOrMissingClientAndMissingRedirectGetAnErrorPage(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let serviceClient = try await service.createClient(name: "Backend", kind: .confidential)
            for uri in [
                authorizeURI(clientID: "cli_01NOSUCHCLIENT00000000000"), authorizeURI(clientID: nil),
                authorizeURI(redirectURI: nil),
                // A client without the code flow has no redirect URI it could be sent back to.
                authorizeURI(clientID: serviceClient.client.id),
                authorizeURI() + "&client_id=" + OAuthClient.cliID,
            ] {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .badRequest, "\(uri)")
                #expect(response.headers[.location] == nil, "\(uri)")
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func pkceIsRequiredAndS256Only(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, _ in
            let pkce = PKCEPair.make()
            let cases: [(String, String)] = [
                ("missing challenge", authorizeURI(challenge: nil, method: nil)),
                ("missing challenge with method", authorizeURI(challenge: nil)),
                ("plain method", authorizeURI(challenge: pkce.verifier, method: "plain")),
                ("no method means plain", authorizeURI(challenge: pkce.challenge, method: nil)),
                ("unknown method", authorizeURI(challenge: pkce.challenge, method: "S512")),
                ("challenge of the wrong shape", authorizeURI(challenge: "short", method: "S256")),
            ]
            for (name, uri) in cases {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .found, "\(name)")
                let parameters = try redirectParameters(response)
                #expect(response.headers[.location]?.hasPrefix(loopbackRedirect + "?") == true, "\(name)")
                #expect(parameters["error"] == "invalid_request", "\(name)")
                #expect(parameters["state"] == "state-123", "\(name)")
                #expect(parameters["iss"] == testIssuer, "\(name)")
                #expect(parameters["code"] == nil, "\(name)")
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func onlyTheCodeResponseTypeAndKnownScopesAreAccepted(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, _ in
            let cases: [(String, String, String)] = [
                ("implicit", authorizeURI(responseType: "token"), "unsupported_response_type"),
                ("hybrid", authorizeURI(responseType: "code token"), "unsupported_response_type"),
                ("missing", authorizeURI(responseType: nil), "invalid_request"),
                ("unregistered scope", authorizeURI(scope: "api admin"), "invalid_scope"),
                ("repeated parameter", authorizeURI(extra: [("state", "other")]), "invalid_request"),
            ]
            for (name, uri, error) in cases {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .found, "\(name)")
                #expect(try redirectParameters(response)["error"] == error, "\(name)")
            }
            // Without state, none is invented.
            let stateless = try await client.execute(uri: authorizeURI(responseType: "token", state: nil), method: .get)
            #expect(try redirectParameters(stateless)["state"] == nil)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func theLoginPageIsAnAccessibleFormWithStrictHeaders(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            // A hostile client name and state: both must come out as text, never markup.
            let app = try await service.createClient(
                name: #"<script>alert("x")</script> & Co"#, kind: .public, redirectURIs: [Self.registered])
            let state = #""><img src=x onerror=alert(1)>"#
            let response = try await client.execute(
                uri: authorizeURI(clientID: app.client.id, redirectURI: Self.registered, state: state), method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/html; charset=utf-8")
            #expect(response.headers[.xFrameOptions] == "DENY")
            #expect(response.headers[.cacheControl] == "no-store")
            let csp = try #require(response.headers[.contentSecurityPolicy])
            #expect(csp.contains("default-src 'none'"))
            #expect(csp.contains("frame-ancestors 'none'"))
            #expect(csp.contains("form-action 'self' https://app.example"))
            #expect(!csp.contains("unsafe-inline"))
            let cookie = try #require(response.headers[values: .setCookie].first)
            #expect(cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Strict"))

            let html = String(buffer: response.body)
            #expect(html.contains(#"<form method="post" action="/oauth/authorize">"#))
            #expect(html.contains(#"<label for="email">"#) && html.contains(#"id="email""#))
            #expect(html.contains(#"<label for="password">"#) && html.contains(#"id="password""#))
            #expect(html.contains(#"type="password""#))
            #expect(!html.contains("<script"))
            #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co"))
            #expect(!html.contains("<img"))
            // The request travels in hidden fields and comes back unchanged.
            let fields = Dictionary(hiddenFields(html), uniquingKeysWith: { first, _ in first })
            #expect(fields["state"] == state)
            #expect(fields["client_id"] == app.client.id)
            #expect(fields["redirect_uri"] == Self.registered)
            #expect(fields["code_challenge_method"] == "S256")
            #expect(fields["csrf_token"]?.isEmpty == false)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func stateIsReturnedExactlyOnSuccess(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            try await createAccount(service, email: "state@example.com")
            let state = "a b&c=d/é+%"
            let pkce = PKCEPair.make()
            _ = try await client.authorizationCode(email: "state@example.com", pkce: pkce, state: state)
        }
    }
}
