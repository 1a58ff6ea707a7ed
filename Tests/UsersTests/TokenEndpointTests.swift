import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import SQLKit
import Testing

@testable import Users

/// `POST /oauth/token`: every attack of RFC 9700 on the code and refresh grants, and the client-credentials
/// grant. Errors are RFC 6749 section 5.2 JSON, never cached.
@Suite struct TokenEndpointTests {
    @Test(arguments: TestDatabase.engines)
    func aReusedCodeFailsAndRevokesWhatItIssued(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            try await createAccount(service, email: "reuse@example.com")
            let introspector = try await service.createClient(name: "API", kind: .confidential)
            let pkce = PKCEPair.make()
            let code = try await client.authorizationCode(email: "reuse@example.com", pkce: pkce)
            let first = try object(try await client.exchange(code: code, verifier: pkce.verifier))
            let access = try #require(first["access_token"] as? String)
            let refresh = try #require(first["refresh_token"] as? String)
            #expect(try await client.introspect(access, client: introspector)["active"] as? Bool == true)

            let second = try await client.exchange(code: code, verifier: pkce.verifier)
            #expect(second.status == .badRequest)
            #expect(try oauthError(second) == "invalid_grant")
            #expect(try await client.introspect(access, client: introspector)["active"] as? Bool == false)
            #expect(try await client.introspect(refresh, client: introspector)["active"] as? Bool == false)
            #expect(try oauthError(try await client.refresh(refresh)) == "invalid_grant")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func concurrentRedemptionsOfOneCodeYieldOneTokenSet(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            try await createAccount(service, email: "race@example.com")
            let pkce = PKCEPair.make()
            let code = try await client.authorizationCode(email: "race@example.com", pkce: pkce)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<4 { group.addTask { try await client.exchange(code: code, verifier: pkce.verifier).status } }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
            #expect(statuses.filter { $0 == .badRequest }.count == 3)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func pkceVerificationFailures(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            try await createAccount(service, email: "pkce@example.com")
            let pkce = PKCEPair.make()

            let mismatch = try await client.authorizationCode(email: "pkce@example.com", pkce: pkce)
            let wrong = try await client.exchange(code: mismatch, verifier: PKCEPair.make().verifier)
            #expect(try oauthError(wrong) == "invalid_grant")
            // A code gets one attempt: the right verifier afterwards is a replay.
            #expect(try oauthError(try await client.exchange(code: mismatch, verifier: pkce.verifier)) == "invalid_grant")

            let missing = try await client.authorizationCode(email: "pkce@example.com", pkce: pkce)
            #expect(try oauthError(try await client.exchange(code: missing, verifier: nil)) == "invalid_grant")

            // The challenge itself is not the verifier (the `plain` transformation is not honoured).
            let plain = try await client.authorizationCode(email: "pkce@example.com", pkce: pkce)
            #expect(try oauthError(try await client.exchange(code: plain, verifier: pkce.challenge)) == "invalid_grant")

            let malformed = try await client.authorizationCode(email: "pkce@example.com", pkce: pkce)
            #expect(try oauthError(try await client.exchange(code: malformed, verifier: "too-short")) == "invalid_request")
            // A malformed verifier is refused before the code is touched, so the real one still works.
            #expect(try await client.exchange(code: malformed, verifier: pkce.verifier).status == .ok)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aVerifierForACodeIssuedWithoutAChallengeIsRefused(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let userID = try await createAccount(service, email: "downgrade@example.com")
            // The endpoint never issues such a code; one is planted, as if it came from an older release.
            var codes: [String] = []
            for _ in 0..<2 {
                let code = OpaqueToken.make()
                let now = Date()
                let cipher = service.cipher
                try await service.database.transaction { sql in
                    try await GrantStore.insert(
                        AuthorizationCode(
                            codeHash: OpaqueToken.hash(code), clientID: OAuthClient.cliID, userID: userID,
                            redirectURI: loopbackRedirect, codeChallenge: nil, codeChallengeMethod: nil, scope: "api",
                            familyID: Identifier.make(prefix: "fam"), createdAt: now, expiresAt: now.addingTimeInterval(60)),
                        cipher: cipher, sql)
                }
                codes.append(code)
            }
            #expect(try oauthError(try await client.exchange(code: codes[0], verifier: PKCEPair.make().verifier)) == "invalid_grant")
            #expect(try oauthError(try await client.exchange(code: codes[1], verifier: nil)) == "invalid_grant")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func codesExpireAfterSixtySeconds(_ engine: DatabaseEngine) async throws {
        let clock = TestClock()
        try await withRawUsersService(engine, now: clock.now) { client, service in
            try await createAccount(service, email: "slow@example.com")
            let pkce = PKCEPair.make()
            let late = try await client.authorizationCode(email: "slow@example.com", pkce: pkce)
            clock.advance(by: 61)
            #expect(try oauthError(try await client.exchange(code: late, verifier: pkce.verifier)) == "invalid_grant")

            let onTime = try await client.authorizationCode(email: "slow@example.com", pkce: pkce)
            clock.advance(by: 59)
            #expect(try await client.exchange(code: onTime, verifier: pkce.verifier).status == .ok)
            let stored = try await service.database.read { sql in
                try await sql.select().columns("created_at", "expires_at").from("authorization_codes").all()
                    .map { try $0.decode(column: "expires_at", as: Int64.self) - $0.decode(column: "created_at", as: Int64.self) }
            }
            #expect(stored.allSatisfy { $0 <= 60_000_000 })
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aCodeOnlyWorksForItsClientAndItsRedirectURI(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            try await createAccount(service, email: "bound@example.com")
            let other = try await service.createClient(name: "Other", kind: .public, redirectURIs: ["http://127.0.0.1/callback"])
            let pkce = PKCEPair.make()

            let stolen = try await client.authorizationCode(email: "bound@example.com", pkce: pkce)
            let asOther = try await client.exchange(code: stolen, verifier: pkce.verifier, clientID: other.client.id)
            #expect(try oauthError(asOther) == "invalid_grant")

            let moved = try await client.authorizationCode(email: "bound@example.com", pkce: pkce)
            // The loopback port is part of the exchange: it must be the one the code was sent to.
            let otherPort = try await client.exchange(
                code: moved, verifier: pkce.verifier, redirectURI: "http://127.0.0.1:49153/callback")
            #expect(try oauthError(otherPort) == "invalid_grant")

            let noRedirect = try await client.authorizationCode(email: "bound@example.com", pkce: pkce)
            let missing = try await client.tokenRequest([
                ("grant_type", "authorization_code"), ("code", noRedirect), ("client_id", OAuthClient.cliID),
                ("code_verifier", pkce.verifier),
            ])
            #expect(try oauthError(missing) == "invalid_request")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func refreshTokensOfAnotherClientAreRefusedWithoutBeingSpent(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            try await createAccount(service, email: "refresh@example.com")
            let other = try await service.createClient(name: "Other", kind: .public, redirectURIs: [loopbackRedirect])
            let pkce = PKCEPair.make()
            let code = try await client.authorizationCode(email: "refresh@example.com", pkce: pkce)
            let refresh = try #require(try object(try await client.exchange(code: code, verifier: pkce.verifier))["refresh_token"] as? String)
            #expect(try oauthError(try await client.refresh(refresh, clientID: other.client.id)) == "invalid_grant")
            #expect(try await client.refresh(refresh).status == .ok)
            #expect(try oauthError(try await client.refresh("garbage")) == "invalid_grant")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func clientCredentialsIssueServiceTokensToConfidentialClientsOnly(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let backend = try await service.createClient(name: "Notifications", kind: .confidential)
            let secret = try #require(backend.secret)

            let basic = try await client.tokenRequest(
                [("grant_type", "client_credentials")],
                headers: [.authorization: basicAuthorization(backend.client.id, secret)])
            #expect(basic.status == .ok)
            let tokens = try object(basic)
            #expect(tokens["refresh_token"] == nil)
            let access = try #require(tokens["access_token"] as? String)
            let principal = try await service.verifier.verify(access)
            #expect(principal.subject == backend.client.id)
            #expect(principal.roles == ["service"])
            #expect(principal.permissions == BuiltInRole.service.permissions)

            let post = try await client.tokenRequest([
                ("grant_type", "client_credentials"), ("client_id", backend.client.id), ("client_secret", secret),
            ])
            #expect(post.status == .ok)

            // Wrong secret, by either method: 401 invalid_client with a Basic challenge.
            for attempt in [
                try await client.tokenRequest(
                    [("grant_type", "client_credentials")],
                    headers: [.authorization: basicAuthorization(backend.client.id, secret + "x")]),
                try await client.tokenRequest([
                    ("grant_type", "client_credentials"), ("client_id", backend.client.id), ("client_secret", "nope"),
                ]),
                try await client.tokenRequest([("grant_type", "client_credentials"), ("client_id", backend.client.id)]),
                try await client.tokenRequest([
                    ("grant_type", "client_credentials"), ("client_id", "cli_01UNKNOWN000000000000000"),
                    ("client_secret", secret),
                ]),
            ] {
                #expect(attempt.status == .unauthorized)
                #expect(try oauthError(attempt) == "invalid_client")
                #expect(attempt.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
            }
            // Two authentication methods at once are refused.
            let both = try await client.tokenRequest(
                [("grant_type", "client_credentials"), ("client_secret", secret)],
                headers: [.authorization: basicAuthorization(backend.client.id, secret)])
            #expect(try oauthError(both) == "invalid_request")

            // A public client has no credentials to present.
            let publicClient = try await client.tokenRequest([
                ("grant_type", "client_credentials"), ("client_id", OAuthClient.cliID),
            ])
            #expect(publicClient.status == .badRequest)
            #expect(try oauthError(publicClient) == "unauthorized_client")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func passwordAndImplicitGrantsDoNotExist(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            try await createAccount(service, email: "legacy@example.com")
            for grant in ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "token"] {
                let response = try await client.tokenRequest([
                    ("grant_type", grant), ("client_id", OAuthClient.cliID), ("username", "legacy@example.com"),
                    ("password", testPassword),
                ])
                #expect(response.status == .badRequest, "\(grant)")
                #expect(try oauthError(response) == "unsupported_grant_type", "\(grant)")
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func malformedTokenRequestsAreInvalidRequests(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, _ in
            let json = try await client.execute(
                uri: "/oauth/token", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"grant_type":"client_credentials"}"#))
            #expect(try oauthError(json) == "invalid_request", "\(String(buffer: json.body))")
            #expect(try oauthError(try await client.tokenRequest([])) == "invalid_request")
            let repeated = try await client.tokenRequest([
                ("grant_type", "authorization_code"), ("grant_type", "refresh_token"), ("client_id", OAuthClient.cliID),
            ])
            #expect(try oauthError(repeated) == "invalid_request")
            let badEscape = try await client.execute(
                uri: "/oauth/token", method: .post, headers: formHeaders, body: ByteBuffer(string: "grant_type=%zz"))
            #expect(try oauthError(badEscape) == "invalid_request")
            let huge = try await client.execute(
                uri: "/oauth/token", method: .post, headers: formHeaders,
                body: ByteBuffer(string: "grant_type=" + String(repeating: "a", count: 20_000)))
            #expect(try oauthError(huge) == "invalid_request", "\(String(buffer: huge.body))")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func tokensAreStoredOnlyAsHashes(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            try await createAccount(service, email: "hash@example.com")
            let pkce = PKCEPair.make()
            let code = try await client.authorizationCode(email: "hash@example.com", pkce: pkce)
            let tokens = try object(try await client.exchange(code: code, verifier: pkce.verifier))
            let refresh = try #require(tokens["refresh_token"] as? String)
            let backend = try await service.createClient(name: "Hashed", kind: .confidential)
            let stored = try await service.database.read { sql in
                (
                    try await sql.select().column("code_hash").from("authorization_codes").all()
                        .map { try $0.decode(column: "code_hash", as: String.self) },
                    try await sql.select().column("token_hash").from("refresh_tokens").all()
                        .map { try $0.decode(column: "token_hash", as: String.self) },
                    try await sql.select().column("secret_hash").from("oauth_clients")
                        .where("id", .equal, SQLBind(backend.client.id)).first()?
                        .decode(column: "secret_hash", as: String.self)
                )
            }
            #expect(stored.0 == [OpaqueToken.hash(code)])
            #expect(stored.1 == [OpaqueToken.hash(refresh)])
            let secretHash = try #require(stored.2)
            #expect(secretHash.hasPrefix("$2b$") && secretHash != backend.secret)
        }
    }
}
