import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Users

/// `UsersService.ensureAdmin`: the first administrator, with a configured or generated password.
@Suite struct AdminBootstrapTests {
    static func dataDirectory() -> String {
        TestDatabase.temporaryDirectory() + "/data-\(UUID().uuidString)"
    }

    @Test(arguments: TestDatabase.engines)
    func aGeneratedPasswordIsWrittenOnceToAnOwnerOnlyFile(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let directory = Self.dataDirectory()
            let outcome = try await service.ensureAdmin(dataDirectory: directory, password: nil)
            guard case .created(let id, let email, let file) = outcome else {
                Issue.record("expected an admin to be created, got \(outcome)")
                return
            }
            let path = try #require(file)
            #expect(path == directory + "/admin-password")
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let password = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines)
            #expect(password.utf8.count >= 32)
            #expect(try await service.repository.find(id: id)?.roles == ["admin"])

            // The admin signs in through the real flow with that password and gets every permission.
            let pkce = PKCEPair.make()
            let code = try await client.authorizationCode(email: email, password: password, pkce: pkce)
            let token = try #require(try object(try await client.exchange(code: code, verifier: pkce.verifier))["access_token"] as? String)
            #expect(try await service.verifier.verify(token).permissions == Set(Permission.all))

            // A second start changes nothing and does not rewrite the file.
            #expect(try await service.ensureAdmin(dataDirectory: directory, password: nil) == .alreadyPresent)
            #expect(try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines) == password)
            #expect(try await service.repository.countHolding(role: "admin") == 1)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aConfiguredPasswordIsUsedAndNoFileIsWritten(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let directory = Self.dataDirectory()
            let outcome = try await service.ensureAdmin(dataDirectory: directory, password: "operator chosen secret")
            guard case .created(_, let email, let file) = outcome else {
                Issue.record("expected an admin to be created")
                return
            }
            #expect(file == nil)
            #expect(!FileManager.default.fileExists(atPath: directory + "/admin-password"))
            let pkce = PKCEPair.make()
            _ = try await client.authorizationCode(email: email, password: "operator chosen secret", pkce: pkce)

            await #expect(throws: UsersService.AdminBootstrapError.self) {
                try await withRawUsersService(.sqlite) { _, fresh in
                    try await fresh.ensureAdmin(dataDirectory: directory, password: "short")
                }
            }
        }
    }
}
