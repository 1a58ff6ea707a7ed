import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import Testing

@testable import Users

/// `/api/clients` and `UsersService.createClient`.
@Suite struct ClientRoutesTests {
    @Test(arguments: TestDatabase.engines)
    func confidentialClientsGetASecretOnceAndPublicOnesNone(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let confidential = try await client.execute(
                uri: "/api/clients", method: .post, headers: jsonHeaders,
                body: try jsonBody(["name": "Billing job", "type": "confidential"]))
            #expect(confidential.status == .created)
            #expect(confidential.headers[.cacheControl] == "no-store")
            let created = try object(confidential)
            let secret = try #require(created["client_secret"] as? String)
            #expect(secret.count == 43)
            #expect(created["grant_types"] as? [String] == ["client_credentials"])
            #expect(created["redirect_uris"] as? [String] == [])
            #expect(created["allowed_scopes"] as? [String] == ["api"])

            let publicClient = try await client.execute(
                uri: "/api/clients", method: .post, headers: jsonHeaders,
                body: try jsonBody([
                    "name": "Web app", "type": "public", "redirect_uris": ["https://app.example/cb"],
                    "allowed_scopes": ["api", "profile"],
                ]))
            #expect(publicClient.status == .created)
            #expect(try object(publicClient)["client_secret"] == nil)
            #expect(try object(publicClient)["grant_types"] as? [String] == ["authorization_code", "refresh_token"])

            let listed = try await client.get("/api/clients")
            let text = String(buffer: listed.body)
            #expect(!text.contains(secret))
            #expect(!text.contains("secret"))
            let ids = try #require(try object(listed)["data"] as? [[String: Any]]).compactMap { $0["id"] as? String }
            #expect(ids.contains("meridian-cli"))
            #expect(ids.contains(try #require(created["id"] as? String)))
        }
    }

    @Test(arguments: TestDatabase.engines)
    func registrationsThatCouldLeakCodesAreRefused(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let cases: [([String: Any], [String])] = [
                (["name": "A", "type": "public", "redirect_uris": ["http://app.example/cb"]], ["redirect_uris[0]"]),
                (["name": "A", "type": "public", "redirect_uris": ["https://app.example/cb#x"]], ["redirect_uris[0]"]),
                (["name": "A", "type": "public", "redirect_uris": ["https://u@app.example/cb"]], ["redirect_uris[0]"]),
                (["name": "A", "type": "public", "redirect_uris": ["http://localhost/cb"]], ["redirect_uris[0]"]),
                (["name": "A", "type": "public", "redirect_uris": ["myapp:/cb"]], ["redirect_uris[0]"]),
                (["name": "A", "type": "public"], ["redirect_uris"]),
                (["name": "A", "type": "public", "grant_types": ["client_credentials"]], ["grant_types"]),
                (["name": "A", "type": "confidential", "grant_types": ["refresh_token"]], ["grant_types"]),
                (["name": "A", "type": "confidential", "grant_types": ["password"]], ["grant_types[0]"]),
                (["name": "A", "type": "robot"], ["type"]),
                (["name": "", "type": "confidential", "allowed_scopes": ["bad scope"]], ["name", "allowed_scopes[0]"]),
            ]
            for (body, fields) in cases {
                let response = try await client.execute(
                    uri: "/api/clients", method: .post, headers: jsonHeaders, body: try jsonBody(body))
                #expect(response.status == .unprocessableContent, "\(body)")
                #expect(Set(try errorFields(response)) == Set(fields), "\(body)")
            }
            // Native-app schemes and loopback redirects are fine.
            let native = try await client.execute(
                uri: "/api/clients", method: .post, headers: jsonHeaders,
                body: try jsonBody([
                    "name": "Phone", "type": "public",
                    "redirect_uris": ["com.example.app:/oauth", "http://127.0.0.1/cb", "http://[::1]/cb"],
                ]))
            #expect(native.status == .created)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func theCLIRegistersClientsOfflineWithTheSameRules(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { _, service in
            let registered = try await service.createClient(name: "Reports", kind: .confidential, scopes: ["api", "reports"])
            #expect(registered.secret != nil)
            #expect(registered.client.allowedScopes == ["api", "reports"])
            let stored = try #require(try await service.clients.find(id: registered.client.id))
            #expect(stored.client == registered.client)
            #expect(try await service.hasher.verify(registered.secret!, hash: try #require(stored.secretHash)))
            await #expect(throws: ClientRegistration.Invalid.self) {
                try await service.createClient(name: "Bad", kind: .public, redirectURIs: ["http://example.com/cb"])
            }
        }
    }
}
