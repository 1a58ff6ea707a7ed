import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import Testing

@testable import Users

/// `/api/roles` and `PUT /api/users/{id}/roles`.
@Suite struct RoleRoutesTests {
    @Test(arguments: TestDatabase.engines)
    func builtInRolesAreListedWithTheirKernelPermissions(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let response = try await client.get("/api/roles")
            #expect(response.status == .ok)
            let roles = try #require(try object(response)["data"] as? [[String: Any]])
            #expect(roles.compactMap { $0["name"] as? String } == ["admin", "customer", "service", "support"])
            for role in roles {
                let name = try #require(role["name"] as? String)
                let builtIn = try #require(BuiltInRole(rawValue: name))
                #expect(role["built_in"] as? Bool == true)
                #expect(role["permissions"] as? [String] == builtIn.permissions.sorted().map(\.rawValue))
            }
            let admin = try await client.get("/api/roles/admin")
            #expect(admin.status == .ok)
            #expect(admin.headers[.eTag] == "\"v1\"")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func customRolesAreCreatedReplacedAndDeleted(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let created = try await client.execute(
                uri: "/api/roles", method: .post, headers: jsonHeaders,
                body: try jsonBody(["name": "billing", "permissions": ["orders:read", "orders:write"]]))
            #expect(created.status == .created)
            #expect(created.headers[.location] == "/api/roles/billing")
            #expect(created.headers[.eTag] == "\"v1\"")
            #expect(try object(created)["built_in"] as? Bool == false)

            let clash = try await client.execute(
                uri: "/api/roles", method: .post, headers: jsonHeaders,
                body: try jsonBody(["name": "billing", "permissions": []]))
            #expect(clash.status == .conflict)

            let replaced = try await client.execute(
                uri: "/api/roles/billing", method: .put, headers: jsonHeaders + [.ifMatch: "\"v1\""],
                body: try jsonBody(["permissions": ["orders:read"]]))
            #expect(replaced.status == .ok)
            #expect(replaced.headers[.eTag] == "\"v2\"")
            #expect(try object(replaced)["permissions"] as? [String] == ["orders:read"])
            let stale = try await client.execute(
                uri: "/api/roles/billing", method: .put, headers: jsonHeaders + [.ifMatch: "\"v1\""],
                body: try jsonBody(["permissions": []]))
            #expect(stale.status == .preconditionFailed)

            #expect(try await client.execute(uri: "/api/roles/billing", method: .delete).status == .noContent)
            #expect(try await client.get("/api/roles/billing").status == .notFound)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func badRolesAreRefusedFieldByField(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let response = try await client.execute(
                uri: "/api/roles", method: .post, headers: jsonHeaders,
                body: try jsonBody(["name": "Bad Name", "permissions": ["orders:read", "orders:fly"], "extra": 1]))
            #expect(response.status == .unprocessableContent)
            #expect(Set(try errorFields(response)) == ["name", "permissions[1]", "extra"])
            #expect(try await client.get("/api/roles/Bad%20Name").status == .notFound)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func builtInRolesAreImmutable(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let put = try await client.execute(
                uri: "/api/roles/customer", method: .put, headers: jsonHeaders,
                body: try jsonBody(["permissions": ["users:read"]]))
            #expect(put.status == .conflict)
            #expect(try object(put)["type"] as? String == Problem.typeBase + "built-in-role")
            #expect(try await client.execute(uri: "/api/roles/admin", method: .delete).status == .conflict)
            #expect(try await client.get("/api/roles/admin").status == .ok)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func assignedRolesGrantTheirPermissionsAndCannotBeDeleted(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            _ = try await client.execute(
                uri: "/api/roles", method: .post, headers: jsonHeaders,
                body: try jsonBody(["name": "auditor", "permissions": ["audit:read", "orders:read"]]))
            let id = try await client.createdUserID(email: "auditor@example.com")

            let assigned = try await client.execute(
                uri: "/api/users/\(id)/roles", method: .put, headers: jsonHeaders + [.ifMatch: "\"v1\""],
                body: try jsonBody(["roles": ["customer", "auditor"]]))
            #expect(assigned.status == .ok)
            #expect(assigned.headers[.eTag] == "\"v2\"")
            #expect(try object(assigned)["roles"] as? [String] == ["customer", "auditor"])
            #expect(
                try await service.roles.permissions(of: ["customer", "auditor"])
                    == BuiltInRole.customer.permissions.union([.auditRead, .ordersRead]))

            let inUse = try await client.execute(uri: "/api/roles/auditor", method: .delete)
            #expect(inUse.status == .conflict)
            #expect(try object(inUse)["type"] as? String == Problem.typeBase + "role-in-use")

            let unknown = try await client.execute(
                uri: "/api/users/\(id)/roles", method: .put, headers: jsonHeaders,
                body: try jsonBody(["roles": ["customer", "wizard"]]))
            #expect(unknown.status == .unprocessableContent)
            #expect(try errorFields(unknown) == ["roles[1]"])
            let stale = try await client.execute(
                uri: "/api/users/\(id)/roles", method: .put, headers: jsonHeaders + [.ifMatch: "\"v1\""],
                body: try jsonBody(["roles": ["customer"]]))
            #expect(stale.status == .preconditionFailed)
            let missing = try await client.execute(
                uri: "/api/users/\(Identifier.make(prefix: "usr"))/roles", method: .put, headers: jsonHeaders,
                body: try jsonBody(["roles": ["customer"]]))
            #expect(missing.status == .notFound)

            // Once nobody holds it, it can go; `ad` in a name does not count as holding `admin`.
            _ = try await client.execute(
                uri: "/api/users/\(id)/roles", method: .put, headers: jsonHeaders,
                body: try jsonBody(["roles": ["customer"]]))
            #expect(try await client.execute(uri: "/api/roles/auditor", method: .delete).status == .noContent)
        }
    }

    /// PostgreSQL refuses the `IN ()` an empty role list would produce; emptying an account's roles is legal.
    @Test(arguments: TestDatabase.engines)
    func anAccountsRolesCanBeEmptied(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let id = try await client.createdUserID(email: "no-roles@example.com")
            let emptied = try await client.execute(
                uri: "/api/users/\(id)/roles", method: .put, headers: jsonHeaders + [.ifMatch: "\"v1\""],
                body: try jsonBody(["roles": [String]()]))
            #expect(emptied.status == .ok)
            #expect(try object(emptied)["roles"] as? [String] == [])
            let missing = try await client.execute(
                uri: "/api/users/\(Identifier.make(prefix: "usr"))/roles", method: .put, headers: jsonHeaders,
                body: try jsonBody(["roles": [String]()]))
            #expect(missing.status == .notFound)
        }
    }
}
