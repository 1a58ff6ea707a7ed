import Foundation
import HTTPTypes
import HummingbirdTesting
import JWTKit
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Users

/// The whole authorization-code flow with PKCE over HTTP, as `meridian login` or a browser app runs it.
@Suite struct AuthorizationCodeFlowTests {
    @Test(arguments: TestDatabase.engines)
    func fullFlowFromLoginFormToRevocation(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let userID = try await createAccount(service, email: "ada@example.com", roles: ["customer"])
            let resourceServer = try await service.createClient(name: "Orders API", kind: .confidential)
            let pkce = PKCEPair.make()

            // 1. The browser opens the authorization URL and gets the sign-in form.
            let page = try await client.execute(
                uri: authorizeURI(challenge: pkce.challenge, state: "s/1 &x"), method: .get)
            #expect(page.status == .ok)
            let form = LoginForm(fields: hiddenFields(String(buffer: page.body)), cookie: cookiePair(page))
            #expect(form.cookie?.hasPrefix("__Host-meridian-csrf=") == true)
            #expect(form["csrf_token"]?.isEmpty == false)
            #expect(form["code_challenge"] == pkce.challenge)
            #expect(form["state"] == "s/1 &x")

            // 2. The user submits their credentials; the browser is sent back to the client with a code.
            let submitted = try await client.submitLogin(form, email: "Ada@Example.com", password: testPassword)
            #expect(submitted.status == .found)
            #expect(submitted.headers[.cacheControl] == "no-store")
            let location = try #require(submitted.headers[.location])
            #expect(location.hasPrefix(loopbackRedirect + "?"))
            let redirect = try redirectParameters(submitted)
            #expect(redirect["state"] == "s/1 &x")
            #expect(redirect["iss"] == testIssuer)
            let code = try #require(redirect["code"])

            // 3. The client exchanges the code with its verifier.
            let exchanged = try await client.exchange(code: code, verifier: pkce.verifier)
            #expect(exchanged.status == .ok, "\(String(buffer: exchanged.body))")
            #expect(exchanged.headers[.cacheControl] == "no-store")
            #expect(exchanged.headers[.pragma] == "no-cache")
            let tokens = try object(exchanged)
            #expect(tokens["token_type"] as? String == "Bearer")
            #expect(tokens["expires_in"] as? Int == 600)
            #expect(tokens["scope"] as? String == "api")
            let accessToken = try #require(tokens["access_token"] as? String)
            let refreshToken = try #require(tokens["refresh_token"] as? String)

            // 4. The access token verifies against the published JWKS, with a third-party reading of it.
            let jwks = String(buffer: try await client.execute(uri: "/.well-known/jwks.json", method: .get).body)
            let keys = try await JWTKeyCollection().add(jwksJSON: jwks)
            let claims = try await keys.verify(accessToken, as: AccessTokenClaims.self)
            #expect(claims.iss.value == testIssuer)
            #expect(claims.aud.value == ["meridian-api"])
            #expect(claims.sub.value == userID)
            #expect(claims.clientID == OAuthClient.cliID)
            #expect(claims.roles == ["customer"])
            #expect(Set(claims.permissions) == BuiltInRole.customer.permissions)
            #expect(claims.exp.value.timeIntervalSince(claims.iat.value) == 600)
            #expect(Identifier.isWellFormed(claims.jti.value, prefix: "tok"))
            let header = try JSONSerialization.jsonObject(
                with: try #require(base64URLDecode(String(accessToken.split(separator: ".")[0])))) as? [String: Any]
            #expect(header?["alg"] as? String == "ES256")
            #expect(header?["typ"] as? String == "at+jwt")
            let jwksKeys = try #require(try JSONSerialization.jsonObject(with: Data(jwks.utf8)) as? [String: Any])["keys"]
            #expect((jwksKeys as? [[String: Any]])?.map { $0["kid"] as? String } == [header?["kid"] as? String])

            // The token opens the API for its own account, and someone else's is not found.
            let me = try await client.execute(uri: "/api/users/\(userID)", method: .get, headers: bearer(accessToken))
            #expect(me.status == .ok)
            let other = try await client.execute(
                uri: "/api/users/\(Identifier.make(prefix: "usr"))", method: .get, headers: bearer(accessToken))
            #expect(other.status == .notFound)

            // 5. Refreshing rotates the refresh token.
            let refreshed = try await client.refresh(refreshToken)
            #expect(refreshed.status == .ok)
            let second = try object(refreshed)
            let accessToken2 = try #require(second["access_token"] as? String)
            let refreshToken2 = try #require(second["refresh_token"] as? String)
            #expect(refreshToken2 != refreshToken)
            #expect(try await client.introspect(refreshToken2, client: resourceServer)["active"] as? Bool == true)

            // 6. Presenting the rotated-out token again is a replay: the whole family is revoked.
            let replay = try await client.refresh(refreshToken)
            #expect(replay.status == .badRequest)
            #expect(try oauthError(replay) == "invalid_grant")
            #expect(try await client.refresh(refreshToken2).status == .badRequest)
            for token in [accessToken, accessToken2, refreshToken2] {
                #expect(try await client.introspect(token, client: resourceServer)["active"] as? Bool == false)
            }

            // 7. A new sign-in, then revocation (RFC 7009) and introspection (RFC 7662) of its tokens.
            let pkce2 = PKCEPair.make()
            let code2 = try await client.authorizationCode(email: "ada@example.com", pkce: pkce2)
            let fresh = try object(try await client.exchange(code: code2, verifier: pkce2.verifier))
            let access3 = try #require(fresh["access_token"] as? String)
            let refresh3 = try #require(fresh["refresh_token"] as? String)
            let active = try await client.introspect(access3, client: resourceServer)
            #expect(active["active"] as? Bool == true)
            #expect(active["sub"] as? String == userID)
            #expect(active["client_id"] as? String == OAuthClient.cliID)
            #expect(active["scope"] as? String == "api")
            #expect(active["iss"] as? String == testIssuer)
            #expect(active["token_type"] as? String == "Bearer")

            let revoked = try await client.revoke(access3)
            #expect(revoked.status == .ok)
            #expect(try await client.introspect(access3, client: resourceServer)["active"] as? Bool == false)
            // The refresh token is a separate grant artefact: revoking it ends the family.
            #expect(try await client.introspect(refresh3, client: resourceServer)["active"] as? Bool == true)
            #expect(try await client.revoke(refresh3).status == .ok)
            #expect(try await client.introspect(refresh3, client: resourceServer)["active"] as? Bool == false)
            #expect(try await client.refresh(refresh3).status == .badRequest)
            // Revoking garbage or an already-revoked token is still 200 (RFC 7009 section 2.2).
            #expect(try await client.revoke("not-a-token").status == .ok)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func refreshNarrowsScopeButNeverWidensIt(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            try await createAccount(service, email: "grace@example.com")
            let wide = try await service.createClient(
                name: "Dashboard", kind: .public, redirectURIs: [loopbackRedirect], scopes: ["api", "reports"])
            let pkce = PKCEPair.make()
            let form = try await client.openLoginForm(
                authorizeURI(clientID: wide.client.id, challenge: pkce.challenge, scope: "api reports"))
            let login = try await client.submitLogin(form, email: "grace@example.com", password: testPassword)
            let code = try #require(try redirectParameters(login)["code"])
            let tokens = try object(
                try await client.exchange(code: code, verifier: pkce.verifier, clientID: wide.client.id))
            #expect(tokens["scope"] as? String == "api reports")
            let refresh = try #require(tokens["refresh_token"] as? String)

            let narrowed = try await client.tokenRequest([
                ("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", wide.client.id),
                ("scope", "reports"),
            ])
            #expect(narrowed.status == .ok)
            #expect(try object(narrowed)["scope"] as? String == "reports")
            let next = try #require(try object(narrowed)["refresh_token"] as? String)
            let widened = try await client.tokenRequest([
                ("grant_type", "refresh_token"), ("refresh_token", next), ("client_id", wide.client.id),
                ("scope", "api admin"),
            ])
            #expect(try oauthError(widened) == "invalid_scope")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func permissionsAreThoseOfTheRolesAtIssueTime(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let id = try await createAccount(service, email: "support@example.com", roles: ["customer"])
            let pkce = PKCEPair.make()
            let code = try await client.authorizationCode(email: "support@example.com", pkce: pkce)
            let tokens = try object(try await client.exchange(code: code, verifier: pkce.verifier))
            let refresh = try #require(tokens["refresh_token"] as? String)
            // Promoted between issue and refresh: the refreshed token says so.
            let user = try #require(try await service.repository.find(id: id))
            _ = try await service.repository.setRoles(
                id: id, expectedVersion: user.version, roles: ["support"], now: UsersRoutes.now())
            let refreshed = try object(try await client.refresh(refresh))
            let access = try #require(refreshed["access_token"] as? String)
            let claims = try await JWTKeyCollection()
                .add(jwksJSON: String(buffer: try await client.execute(uri: "/.well-known/jwks.json", method: .get).body))
                .verify(access, as: AccessTokenClaims.self)
            #expect(claims.roles == ["support"])
            #expect(Set(claims.permissions) == BuiltInRole.support.permissions)
        }
    }
}

func base64URLDecode(_ text: String) -> Data? {
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.count % 4 != 0 { base64 += "=" }
    return Data(base64Encoded: base64)
}
