import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import Testing

@testable import Users

/// RFC 8414 metadata, and the client rules of revocation (RFC 7009) and introspection (RFC 7662).
@Suite struct DiscoveryAndIntrospectionTests {
    @Test(arguments: TestDatabase.engines)
    func metadataDescribesExactlyWhatTheServerDoes(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, _ in
            for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .ok)
                let metadata = try object(response)
                #expect(metadata["issuer"] as? String == testIssuer)
                #expect(metadata["authorization_endpoint"] as? String == testIssuer + "/oauth/authorize")
                #expect(metadata["token_endpoint"] as? String == testIssuer + "/oauth/token")
                #expect(metadata["revocation_endpoint"] as? String == testIssuer + "/oauth/revoke")
                #expect(metadata["introspection_endpoint"] as? String == testIssuer + "/oauth/introspect")
                #expect(metadata["jwks_uri"] as? String == testIssuer + "/.well-known/jwks.json")
                #expect(metadata["response_types_supported"] as? [String] == ["code"])
                #expect(metadata["code_challenge_methods_supported"] as? [String] == ["S256"])
                #expect(
                    metadata["grant_types_supported"] as? [String]
                        == ["authorization_code", "refresh_token", "client_credentials"])
                #expect(
                    metadata["token_endpoint_auth_methods_supported"] as? [String]
                        == ["client_secret_basic", "client_secret_post", "none"])
                #expect(metadata["authorization_response_iss_parameter_supported"] as? Bool == true)
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func onlyConfidentialClientsMayIntrospect(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let token = try await mintAccessToken(service, roles: ["customer"])
            let asPublic = try await client.execute(
                uri: "/oauth/introspect", method: .post, headers: formHeaders,
                body: ByteBuffer(string: formEncode([("token", token), ("client_id", OAuthClient.cliID)])))
            #expect(asPublic.status == .unauthorized)
            #expect(try oauthError(asPublic) == "invalid_client")
            let anonymous = try await client.execute(
                uri: "/oauth/introspect", method: .post, headers: formHeaders,
                body: ByteBuffer(string: formEncode([("token", token)])))
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func introspectionSaysInactiveForAnythingNotLive(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let api = try await service.createClient(name: "API", kind: .confidential)
            // A correctly signed token this server has no record of issuing is not active.
            let unrecorded = try await mintAccessToken(service, roles: ["admin"])
            for token in [unrecorded, "garbage", String(repeating: "A", count: 43), ""] where !token.isEmpty {
                let answer = try await client.introspect(token, client: api)
                #expect(answer["active"] as? Bool == false)
                #expect(answer.count == 1)
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aClientCannotRevokeAnotherClientsTokens(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            try await createAccount(service, email: "owner@example.com")
            let api = try await service.createClient(name: "API", kind: .confidential)
            let other = try await service.createClient(name: "Other", kind: .public, redirectURIs: [loopbackRedirect])
            let pkce = PKCEPair.make()
            let code = try await client.authorizationCode(email: "owner@example.com", pkce: pkce)
            let tokens = try object(try await client.exchange(code: code, verifier: pkce.verifier))
            let access = try #require(tokens["access_token"] as? String)
            let refresh = try #require(tokens["refresh_token"] as? String)
            for token in [access, refresh] {
                #expect(try await client.revoke(token, clientID: other.client.id).status == .ok)
                #expect(try await client.introspect(token, client: api)["active"] as? Bool == true)
            }
            // Revocation needs a client at all.
            let anonymous = try await client.execute(
                uri: "/oauth/revoke", method: .post, headers: formHeaders,
                body: ByteBuffer(string: formEncode([("token", access)])))
            #expect(try oauthError(anonymous) == "invalid_client")
        }
    }
}
