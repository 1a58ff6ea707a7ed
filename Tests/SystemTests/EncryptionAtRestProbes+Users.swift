import Crypto
import Foundation
import MeridianKit
import NIOHTTP1
import Testing
import Users

/// The users service's probes: accounts, the audit change set of an account's creation, a kept idempotent
/// reply, OAuth clients and authorization codes.
extension EncryptionAtRestTests {
    static let userProbes: [Probe] = [
        Probe(field: "users.email, users.name") { platform, mint in
            let email = "\(mint("email"))@example.com"
            let nameToken = mint("name")
            let name = "\(nameToken) Name"
            let created = try await platform.admin.send(
                .POST, "/api/users",
                json: #"{"email": "\#(email)", "name": "\#(name)", "password": "correct horse battery"}"#)
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? String)
            let read = try await platform.admin.send(.GET, "/api/users/\(id)")
            #expect(read.json["email"] as? String == email)
            #expect(read.json["name"] as? String == name)
            // The blind index still finds the account by its address, in any case.
            let found = try await platform.admin.send(.GET, "/api/users?email=\(email.uppercased())")
            #expect((found.json["data"] as? [[String: Any]])?.first?["id"] as? String == id)
            return [
                .text("users.email", email, token: String(email.prefix { $0 != "@" }),
                      in: ["users.users.email", "users.audit_log.details"]),
                .text("users.name", name, token: nameToken, in: ["users.users.name", "users.audit_log.details"]),
            ]
        },
        Probe(field: "audit_log.details (user.create change set)") { platform, mint in
            // Renamed afterwards: the first name then lives only in the change set of the account's creation.
            let beforeToken = mint("auditbefore")
            let afterToken = mint("auditafter")
            let created = try await platform.admin.send(
                .POST, "/api/users",
                json: #"""
                    {"email": "audit-\#(UUID().uuidString.lowercased())@example.com", "name": "\#(beforeToken) Before",
                     "password": "correct horse battery"}
                    """#)
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? String)
            let renamed = try await platform.admin.send(.PATCH, "/api/users/\(id)", json: #"{"name": "\#(afterToken) After"}"#)
            #expect(renamed.status == 200)
            #expect(renamed.json["name"] as? String == "\(afterToken) After")
            let audit = try await platform.admin.send(.GET, "/api/audit/users?resource_id=\(id)&action=user.create")
            let changes = (audit.json["data"] as? [[String: Any]])?.first?["changes"] as? [String: Any]
            #expect(changes?["name"] as? String == "\(beforeToken) Before", "the audit API gives the change set back")
            return [
                .text("audit_log.details (user.create)", "\(beforeToken) Before", token: beforeToken,
                      in: ["users.audit_log.details"]),
                .text("users.name (renamed)", "\(afterToken) After", token: afterToken,
                      in: ["users.users.name", "users.audit_log.details"]),
            ]
        },
        Probe(field: "meridian_idempotency.sealed_body (users)") { platform, mint in
            // The reply kept under the key holds the name; renamed afterwards, the name lives only there and in
            // the audit record of the creation.
            let token = mint("idem")
            let request = #"""
                {"email": "idem-\#(UUID().uuidString.lowercased())@example.com", "name": "\#(token) Idempotent",
                 "password": "correct horse battery"}
                """#
            let key = [("Idempotency-Key", UUID().uuidString)]
            let created = try await platform.admin.send(.POST, "/api/users", json: request, headers: key)
            #expect(created.status == 201)
            let replayed = try await platform.admin.send(.POST, "/api/users", json: request, headers: key)
            #expect(replayed.status == 201)
            #expect(replayed.headers.first(name: "Idempotent-Replayed") == "true")
            #expect(replayed.json["name"] as? String == "\(token) Idempotent", "the kept reply opens again")
            let id = try #require(created.json["id"] as? String)
            #expect(replayed.json["id"] as? String == id)
            let renamed = try await platform.admin.send(.PATCH, "/api/users/\(id)", json: #"{"name": "Renamed"}"#)
            #expect(renamed.status == 200)
            return [
                .text("meridian_idempotency.sealed_body (users)", "\(token) Idempotent", token: token,
                      in: ["users.meridian_idempotency.sealed_body", "users.audit_log.details"])
            ]
        },
        Probe(field: "oauth_clients.name, oauth_clients.redirect_uris") { platform, mint in
            let nameToken = mint("clientname")
            let uriToken = mint("clienturi")
            let uri = "https://\(uriToken).example.com/callback"
            let created = try await platform.admin.send(
                .POST, "/api/clients",
                json: #"{"name": "\#(nameToken) App", "type": "public", "redirect_uris": ["\#(uri)"]}"#)
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? String)
            let listed = try await platform.admin.send(.GET, "/api/clients?limit=200")
            let read = (listed.json["data"] as? [[String: Any]])?.first { $0["id"] as? String == id }
            #expect(read?["name"] as? String == "\(nameToken) App")
            #expect(read?["redirect_uris"] as? [String] == [uri])
            return [
                .text("oauth_clients.name", "\(nameToken) App", token: nameToken,
                      in: ["users.oauth_clients.name", "users.audit_log.details"]),
                .text("oauth_clients.redirect_uris", uri, token: uriToken,
                      in: ["users.oauth_clients.redirect_uris", "users.audit_log.details"]),
            ]
        },
        Probe(field: "authorization_codes.redirect_uri, authorization_codes.code_challenge") { platform, mint in
            try await authorizationCodeProbe(platform, mint)
        },
    ]

    /// Two codes for a loopback client, each for its own port (a loopback redirect URI matches on any port, so
    /// the URI a code stores differs from the registered one). The first has a challenge that is a marker
    /// itself and is never redeemed; the second is redeemed, which reads both columns back.
    static func authorizationCodeProbe(_ platform: Platform, _ mint: MarkerMint) async throws -> [Secret] {
        let pathToken = mint("codepath")
        let registered = "http://127.0.0.1/\(pathToken)/callback"
        let client = try await platform.admin.send(
            .POST, "/api/clients",
            json: #"{"name": "Code probe", "type": "public", "redirect_uris": ["\#(registered)"]}"#)
        #expect(client.status == 201)
        let clientID = try #require(client.json["id"] as? String)
        let flow = AuthorizationFlow(gatewayURL: platform.gatewayURL, clientID: clientID)

        let kept = "http://127.0.0.1:\(Int.random(in: 20000...39999))/\(pathToken)/callback"
        let challengeToken = mint("challenge")
        let markerChallenge = String((challengeToken + "-pkce-challenge-" + String(repeating: "0", count: 43)).prefix(43))
        let keptCode = try await flow.code(redirectURI: kept, challenge: markerChallenge)

        let redeemed = "http://127.0.0.1:\(Int.random(in: 40000...59999))/\(pathToken)/callback"
        let verifier = String((mint("verifier") + "-pkce-verifier-" + String(repeating: "0", count: 43)).prefix(43))
        let challenge = SignIn.base64URL(Data(SHA256.hash(data: Data(verifier.utf8))))
        let code = try await flow.code(redirectURI: redeemed, challenge: challenge)
        let exchanged = try await platform.anonymous.send(
            .POST, "/oauth/token",
            form: [
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redeemed),
                ("client_id", clientID), ("code_verifier", verifier),
            ])
        #expect(exchanged.status == 200, "the stored redirect URI and challenge open and match")
        let refresh = exchanged.json["refresh_token"] as? String
        return [
            .text("oauth_clients.redirect_uris (loopback)", registered, token: pathToken,
                  in: ["users.oauth_clients.redirect_uris", "users.audit_log.details"]),
            .text("authorization_codes.redirect_uri (kept code)", kept, token: kept,
                  in: ["users.authorization_codes.redirect_uri"]),
            .text("authorization_codes.redirect_uri (redeemed code)", redeemed, token: redeemed,
                  in: ["users.authorization_codes.redirect_uri"]),
            .text("authorization_codes.code_challenge (marker)", markerChallenge, token: challengeToken,
                  in: ["users.authorization_codes.code_challenge"]),
            .text("authorization_codes.code_challenge (S256)", challenge, token: challenge,
                  in: ["users.authorization_codes.code_challenge"]),
            // Kept only as hashes, or not at all.
            .text("code_verifier (never stored)", verifier, token: verifier, in: []),
            .text("authorization code (stored as its hash)", keptCode, token: keptCode, in: []),
            .text("authorization code (stored as its hash)", code, token: code, in: []),
        ] + (refresh.map { [.text("refresh token (stored as its hash)", $0, token: $0, in: [])] } ?? [])
    }
}

/// The authorization endpoint's login form, signed in as the built-in admin, for any client, redirect URI and
/// challenge: the code the redirect carries, not redeemed.
struct AuthorizationFlow: Sendable {
    let gatewayURL: String
    let clientID: String

    func code(redirectURI: String, challenge: String) async throws -> String {
        let client = APIClient(baseURL: gatewayURL, token: nil)
        let state = OpaqueRandom.make()
        let query = SignIn.formEncode([
            ("response_type", "code"), ("client_id", clientID), ("redirect_uri", redirectURI),
            ("code_challenge", challenge), ("code_challenge_method", "S256"), ("state", state),
        ])
        let page = try await client.send(.GET, "/oauth/authorize?" + query)
        guard page.status == 200 else { throw SignIn.Failure(description: "authorize answered \(page.status)") }
        let cookies = page.headers["Set-Cookie"].compactMap { $0.split(separator: ";").first.map(String.init) }
        var form = SignIn.hiddenFields(in: String(buffer: page.body))
        form.append(("email", UsersService.adminEmail))
        form.append(("password", Platform.adminPassword))
        let submitted = try await client.send(
            .POST, "/oauth/authorize", form: form, headers: [("Cookie", cookies.joined(separator: "; "))])
        guard submitted.status == 302 || submitted.status == 303,
            let location = submitted.headers.first(name: "Location"), location.hasPrefix(redirectURI),
            let components = URLComponents(string: location),
            components.queryItems?.first(where: { $0.name == "state" })?.value == state,
            let code = components.queryItems?.first(where: { $0.name == "code" })?.value
        else { throw SignIn.Failure(description: "the login form answered \(submitted.status)") }
        return code
    }
}
