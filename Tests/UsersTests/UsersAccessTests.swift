import Foundation
import HTTPTypes
import Hummingbird
import Logging
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import Testing

@testable import Users

/// The access rules of the users service: one table covering every route, deny by default, `:own` confined to
/// the subject with 404 for anyone else's account, and self-registration off unless configured.
@Suite struct UsersAccessTests {
    @Test(arguments: [false, true])
    func everyRouteHasAnAccessRuleAndEveryRuleARoute(_ selfRegistration: Bool) throws {
        let service = try UsersService(
            settings: ServiceSettings(
                name: UsersService.name, listen: ListenAddress(host: "127.0.0.1", port: 0),
                databaseURL: TestDatabase.url(.sqlite, service: UsersService.name)
            ).withTestMasterKey(),
            logger: Logger(label: "t"), bcryptCost: 4, selfRegistration: selfRegistration)
        let router = service.makeRouter()
        let table = UsersAccess.table(selfRegistration: selfRegistration)
        #expect(table.missingRoutes(router: router) == [])
        #expect(table.unusedRules(router: router) == [])
        #expect(router.routes.count > 20)
    }

    /// Who may pass the table on each route, written out by hand from docs/identity.md (not derived from the
    /// table, which is what is being checked).
    static let allowed: [String: Set<String>] = [
        "POST /api/users": ["admin"],
        // The kernel's audit route: `audit:read` (support and admin).
        "GET /api/audit/users": ["admin", "support"],
        "GET /api/users": ["admin", "support", "customer", "service"],
        "GET /api/users/{id}": ["admin", "support", "customer", "service"],
        "PATCH /api/users/{id}": ["admin", "customer"],
        "DELETE /api/users/{id}": ["admin"],
        "PUT /api/users/{id}/roles": ["admin"],
        "GET /api/roles": ["admin", "support", "service"],
        "GET /api/roles/{name}": ["admin", "support", "service"],
        "POST /api/roles": ["admin"],
        "PUT /api/roles/{name}": ["admin"],
        "DELETE /api/roles/{name}": ["admin"],
        "GET /api/clients": ["admin"],
        "POST /api/clients": ["admin"],
    ]

    @Test(arguments: TestDatabase.engines)
    func theRoleByRouteMatrix(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let subject = try await createAccount(service, email: "subject@example.com")
            let described: [(method: HTTPRequest.Method, path: String)] = service.makeRouter().routes.map {
                (method: $0.method, path: $0.path.description)
            }
            // Deletes last, so the account and the roles exist for every other cell.
            let routes = described.filter { $0.method != .delete } + described.filter { $0.method == .delete }
            for role in [nil, "customer", "service", "support", "admin"] {
                var token: String?
                if let role { token = try await mintAccessToken(service, subject: subject, roles: [role]) }
                for route in routes {
                    let key = "\(route.method.rawValue) \(route.path)"
                    let uri = route.path.replacingOccurrences(of: "{id}", with: subject)
                        .replacingOccurrences(of: "{name}", with: "support")
                    var headers: HTTPFields = [.contentType: "application/json"]
                    if let token { headers[.authorization] = "Bearer \(token)" }
                    let status = try await client.execute(
                        uri: uri, method: route.method, headers: headers, body: ByteBuffer(string: "{}")
                    ).status
                    guard let allowed = Self.allowed[key] else {
                        // Everything else is public: /oauth, /.well-known and the operational routes.
                        #expect(status != .unauthorized && status != .forbidden, "\(role ?? "anonymous") \(key): \(status)")
                        continue
                    }
                    if role == nil {
                        #expect(status == .unauthorized, "anonymous \(key)")
                    } else if let role, allowed.contains(role) {
                        #expect(status != .unauthorized && status != .forbidden, "\(role) \(key): \(status)")
                    } else {
                        #expect(status == .forbidden, "\(role ?? "") \(key): \(status)")
                    }
                }
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aCustomerSeesAndChangesOnlyTheirOwnAccount(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let me = try await createAccount(service, email: "me@example.com")
            let other = try await createAccount(service, email: "other@example.com")
            let token = bearer(try await mintAccessToken(service, subject: me, roles: ["customer"]))

            #expect(try await client.execute(uri: "/api/users/\(me)", method: .get, headers: token).status == .ok)
            let foreign = try await client.execute(uri: "/api/users/\(other)", method: .get, headers: token)
            let absent = try await client.execute(
                uri: "/api/users/\(Identifier.make(prefix: "usr"))", method: .get, headers: token)
            // Someone else's account looks exactly like one that does not exist.
            #expect(foreign.status == .notFound && absent.status == .notFound)
            #expect(try object(foreign)["detail"] as? String == (try object(absent)["detail"] as? String))

            let patchOwn = try await client.execute(
                uri: "/api/users/\(me)", method: .patch, headers: token + jsonHeaders,
                body: try jsonBody(["name": "New Name"]))
            #expect(patchOwn.status == .ok)
            let patchOther = try await client.execute(
                uri: "/api/users/\(other)", method: .patch, headers: token + jsonHeaders,
                body: try jsonBody(["name": "Hijacked"]))
            #expect(patchOther.status == .notFound)
            #expect(try await service.repository.find(id: other)?.name == "Test User")

            let list = try object(try await client.execute(uri: "/api/users", method: .get, headers: token))
            #expect((list["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [me])
            let probe = try object(
                try await client.execute(uri: "/api/users?email=other@example.com", method: .get, headers: token))
            #expect((probe["data"] as? [[String: Any]])?.isEmpty == true)

            #expect(try await client.execute(uri: "/api/users/\(me)", method: .delete, headers: token).status == .forbidden)
            // Roles are not self-service.
            let promote = try await client.execute(
                uri: "/api/users/\(me)/roles", method: .put, headers: token + jsonHeaders,
                body: try jsonBody(["roles": ["admin"]]))
            #expect(promote.status == .forbidden)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func tokensAreCheckedBeforeAnyHandlerRuns(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let anonymous = try await client.execute(uri: "/api/users", method: .get)
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.wwwAuthenticate] == "Bearer")
            let forged = try await client.execute(uri: "/api/users", method: .get, headers: bearer("eyJhbGciOiJub25lIn0.e30."))
            #expect(forged.status == .unauthorized)
            #expect(forged.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
            // A token signed by someone else's key (right shape, wrong signer) is refused.
            let other = try await withRawUsersService(.sqlite) { _, otherService in
                try await mintAccessToken(otherService, roles: ["admin"])
            }
            let foreign = try await client.execute(uri: "/api/users", method: .get, headers: bearer(other))
            #expect(foreign.status == .unauthorized)
            _ = service
        }
    }

    @Test(arguments: TestDatabase.engines)
    func selfRegistrationIsOffByDefault(_ engine: DatabaseEngine) async throws {
        let body = try jsonBody(["email": "new@example.com", "name": "New", "password": testPassword])
        try await withRawUsersService(engine) { client, service in
            let anonymous = try await client.execute(uri: "/api/users", method: .post, headers: jsonHeaders, body: body)
            #expect(anonymous.status == .unauthorized)
            let customer = bearer(try await mintAccessToken(service, roles: ["customer"]))
            let asCustomer = try await client.execute(
                uri: "/api/users", method: .post, headers: jsonHeaders + customer, body: body)
            #expect(asCustomer.status == .forbidden)
            #expect(try await userCount(service) == 0)
        }
        try await withRawUsersService(engine, selfRegistration: true) { client, service in
            let anonymous = try await client.execute(uri: "/api/users", method: .post, headers: jsonHeaders, body: body)
            #expect(anonymous.status == .created)
            // Signing up never grants more than the default role.
            #expect(try object(anonymous)["roles"] as? [String] == ["customer"])
            // Everything else still needs a token.
            #expect(try await client.execute(uri: "/api/users", method: .get).status == .unauthorized)
        }
    }
}

