import Foundation
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Users

@Suite struct UsersServiceTests {
    @Test(arguments: TestDatabase.engines)
    func migrationsRunAtStartAndAgainAreANoOp(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            #expect(try await client.get("/readyz").status == .ok)
            // What `meridian migrate` calls: everything is already applied, so nothing runs twice.
            #expect(try await service.migrate().isEmpty)
            let applied = try await Migrator(
                database: service.database, migrations: UsersMigrations.all, logger: Logger(label: "t")
            ).appliedNames()
            // The service's own migrations, plus the kernel's (data keys, audit log, outbox).
            #expect(
                Set(["idempotency_keys", "users_create", "roles_create", "oauth_create", "identity_seed"])
                    .isSubset(of: Set(applied)))
        }
    }

    @Test func aBadBcryptCostStopsTheServiceFromStarting() {
        let settings = ServiceSettings(
            name: UsersService.name, listen: ListenAddress(host: "127.0.0.1", port: 0),
            databaseURL: TestDatabase.url(.sqlite, service: UsersService.name)
        ).withTestMasterKey()
        #expect(throws: PasswordHasher.InvalidCost.self) {
            try UsersService(settings: settings, logger: Logger(label: "t"), bcryptCost: 32)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func metricsNameRouteTemplatesNotIds(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let id = try await client.createdUserID(email: "metrics@example.com")
            _ = try await client.get("/api/users/\(id)")
            let metrics = String(buffer: try await client.get("/metrics").body)
            #expect(metrics.contains("/api/users/{id}") || metrics.contains("/api/users/:id"))
            #expect(!metrics.contains(id))
        }
    }
}
