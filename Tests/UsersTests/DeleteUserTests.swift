import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Users

@Suite struct DeleteUserTests {
    @Test(arguments: TestDatabase.engines)
    func deleteRemovesTheAccountOnce(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            let id = try await client.createdUserID(email: "gone@example.com")
            let deleted = try await client.execute(uri: "/api/users/\(id)", method: .delete)
            #expect(deleted.status == .noContent)
            #expect(deleted.body.readableBytes == 0)
            #expect(try await client.get("/api/users/\(id)").status == .notFound)
            let again = try await client.execute(uri: "/api/users/\(id)", method: .delete)
            #expect(again.status == .notFound)
            #expect(again.headers[.contentType] == Problem.contentType)
            #expect(try await userCount(service) == 0)
            // The address is free again.
            #expect(try await client.createUser(email: "gone@example.com").status == .created)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func deleteHonoursIfMatch(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            let id = try await client.createdUserID(email: "kept@example.com")
            _ = try await client.patchUser(id, ["name": "Renamed"])
            let stale = try await client.execute(uri: "/api/users/\(id)", method: .delete, headers: [.ifMatch: "\"v1\""])
            #expect(stale.status == .preconditionFailed)
            #expect(stale.headers[.eTag] == "\"v2\"")
            #expect(try await userCount(service) == 1)
            let current = try await client.execute(uri: "/api/users/\(id)", method: .delete, headers: [.ifMatch: "\"v2\""])
            #expect(current.status == .noContent)
            #expect(try await userCount(service) == 0)
        }
    }
}
