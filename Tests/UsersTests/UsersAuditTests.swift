import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import SQLKit
import Testing

@testable import Users

/// Every mutation of the users service leaves exactly one audit record, in its own transaction, with the
/// caller as actor; the chain stays intact; the audit route is read-only and guarded.
@Suite struct UsersAuditTests {
    /// Actions and outcomes in chain order, after `sequence`.
    func actions(_ service: UsersService, after sequence: Int64) async throws -> [String] {
        try await service.database.read { sql in
            try await sql.select().columns("action", "outcome").from("audit_log")
                .where("sequence", .greaterThan, SQLBind(sequence)).orderBy("sequence").all()
                .map { row in
                    let outcome = try row.decode(column: "outcome", as: String.self)
                    let action = try row.decode(column: "action", as: String.self)
                    return outcome == "success" ? action : "\(action):\(outcome)"
                }
        }
    }

    func head(_ service: UsersService) async throws -> Int64 {
        try await service.database.read { sql in
            try await sql.select().column(SQLFunction("max", args: SQLColumn("sequence")), as: "head").from("audit_log")
                .first()?.decode(column: "head", as: Int64?.self) ?? 0
        }
    }

    @Test(arguments: TestDatabase.engines)
    func everyMutationOfAWorkloadIsAuditedOnce(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { raw, service in
            let admin = AuthorizedClient(
                base: raw, bearer: try await mintAccessToken(service, roles: [BuiltInRole.admin.rawValue]))
            // Start-up wrote its own records (the built-in clients, the first signing key) as the service.
            let start = try await head(service)
            #expect(start > 0)
            var expected: [String] = []

            let userID = try await admin.createdUserID(email: "audit-\(UUID().uuidString)@example.com")
            expected.append("user.create")
            #expect(try await admin.patchUser(userID, ["name": "Grace Hopper"]).status == .ok)
            expected.append("user.update")
            #expect(
                try await admin.execute(
                    uri: "/api/roles", method: .post, headers: jsonHeaders,
                    body: try jsonBody(["name": "billing", "permissions": ["orders:read"]])
                ).status == .created)
            expected.append("role.create")
            #expect(
                try await admin.execute(
                    uri: "/api/roles/billing", method: .put, headers: jsonHeaders,
                    body: try jsonBody(["permissions": ["orders:read", "orders:write"]])
                ).status == .ok)
            expected.append("role.update")
            #expect(try await admin.execute(uri: "/api/roles/billing", method: .delete).status == .noContent)
            expected.append("role.delete")
            #expect(
                try await admin.execute(
                    uri: "/api/users/\(userID)/roles", method: .put, headers: jsonHeaders,
                    body: try jsonBody(["roles": ["customer", "support"]])
                ).status == .ok)
            expected.append("user.role_change")
            #expect(
                try await admin.execute(
                    uri: "/api/clients", method: .post, headers: jsonHeaders,
                    body: try jsonBody(["name": "Billing job", "type": "confidential"])
                ).status == .created)
            expected.append("client.create")

            // Signing in: a failure, then the code flow, a refresh and a revocation.
            let email = "signin-\(UUID().uuidString)@example.com"
            try await createAccount(service, email: email)
            expected.append("user.create")
            let form = try await raw.openLoginForm()
            #expect(try await raw.submitLogin(form, email: email, password: "wrong password").status == .badRequest)
            expected.append("user.login:failure")
            let pkce = PKCEPair.make()
            let code = try await raw.authorizationCode(email: email, pkce: pkce)
            expected += ["user.login", "code.issue"]
            let exchanged = try await raw.exchange(code: code, verifier: pkce.verifier)
            #expect(exchanged.status == .ok)
            expected.append("token.issue")
            let refreshToken = try #require(try object(exchanged)["refresh_token"] as? String)
            let refreshed = try await raw.refresh(refreshToken)
            #expect(refreshed.status == .ok)
            expected.append("token.issue")
            // The spent token again: refused, and its whole family revoked, in one audited transaction.
            #expect(try await raw.refresh(refreshToken).status == .badRequest)
            expected.append("token.issue:failure")
            let newRefresh = try #require(try object(refreshed)["refresh_token"] as? String)
            #expect(try await raw.revoke(newRefresh).status == .ok)
            expected.append("token.revoke")

            _ = try await service.keyring.rotate()
            expected.append("key.rotate")
            #expect(try await admin.execute(uri: "/api/users/\(userID)", method: .delete).status == .noContent)
            expected.append("user.delete")
            #expect(try await raw.execute(uri: "/api/users", method: .get).status == .unauthorized)
            expected.append("request.deny:denied")

            #expect(try await actions(service, after: start) == expected)
            let verification = try await AuditVerifier(
                service: UsersService.name, database: service.database, cipher: service.cipher
            ).verify()
            #expect(verification.firstBreak == nil)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func recordsNameTheCallerAndKeepNoSecrets(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            let password = "secret-\(UUID().uuidString)"
            let response = try await client.createUser(
                email: "ada-\(UUID().uuidString)@example.com", password: password,
                headers: [.requestID: "req-audit-users"])
            #expect(response.status == .created)
            let listed = try await client.get("/api/audit/users?action=user.create")
            #expect(listed.status == .ok)
            let records = try #require(try object(listed)["data"] as? [[String: Any]])
            let record = try #require(records.last)
            #expect((record["actor"] as? [String: Any])?["roles"] as? [String] == ["admin"])
            #expect(record["request_id"] as? String == "req-audit-users")
            #expect((record["changes"] as? [String: Any])?["name"] as? String == "Ada Lovelace")
            #expect(!String(buffer: listed.body).contains(password))
        }
    }

    @Test(arguments: TestDatabase.engines)
    func theAuditRouteIsForSupportAndAdminsOnly(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { raw, service in
            for (role, status) in [(BuiltInRole.admin, HTTPResponse.Status.ok), (.support, .ok), (.customer, .forbidden)] {
                let token = try await mintAccessToken(service, roles: [role.rawValue])
                let response = try await raw.execute(uri: "/api/audit/users", method: .get, headers: bearer(token))
                #expect(response.status == status, "\(role)")
            }
            let admin = try await mintAccessToken(service, roles: [BuiltInRole.admin.rawValue])
            let delete = try await raw.execute(uri: "/api/audit/users", method: .delete, headers: bearer(admin))
            #expect(!(200..<300).contains(delete.status.code))
        }
    }
}
