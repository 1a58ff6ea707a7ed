import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import Notifications
import Testing

@Suite struct NotificationsServiceTests {
    static func settings(_ engine: DatabaseEngine, serviceURLs: [String: String] = [:]) -> ServiceSettings {
        ServiceSettings(
            name: NotificationsService.name, listen: ListenAddress(host: "127.0.0.1", port: 0),
            databaseURL: TestDatabase.url(engine, service: NotificationsService.name), serviceURLs: serviceURLs,
            issuer: TestTokens.issuer
        ).withTestMasterKey()
    }

    static func makeService(_ engine: DatabaseEngine, tokens: TestTokens? = nil) async throws -> NotificationsService {
        let verifier = if let tokens { tokens.verifier } else { await TestTokens.make().verifier }
        return try NotificationsService(
            settings: settings(engine), logger: Logger(label: NotificationsService.name), verifier: verifier)
    }

    static func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] ?? [:]
    }

    @Test(arguments: TestDatabase.engines)
    func startsMigratedAndReady(_ engine: DatabaseEngine) async throws {
        let service = try await Self.makeService(engine)
        try await service.makeApplication().test(.router) { client in
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            #expect(try Self.json(ready.body)["status"] as? String == "ready")

            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            #expect(try Self.json(health.body)["status"] as? String == "ok")

            let applied = try await Migrator(
                database: service.database, migrations: NotificationsMigrations.all, logger: Logger(label: "test")
            ).appliedNames()
            // The service's own migrations in order, then the kernel's (sealed idempotency bodies, encryption keys,
            // audit log).
            let own = NotificationsMigrations.all.map(\.name)
            #expect(applied.filter(own.contains) == own)
            #expect(Set(applied) == Set(
                own + [IdempotencyMiddleware.sealing.name] + CryptoMigrations.all.map(\.name) + AuditMigrations.all.map(\.name)))
            #expect(applied.contains(IdempotencyMiddleware.migration.name))
        }
    }

    @Test(arguments: TestDatabase.engines)
    func notReadyBeforeMigrations(_ engine: DatabaseEngine) async throws {
        let service = try await Self.makeService(engine)
        // The router with only the database beside it: nothing runs the migrations, so no readiness.
        try await Application(router: service.makeRouter(), services: [service.database]).test(.router) { client in
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .serviceUnavailable)
            #expect(ready.headers[.contentType] == Problem.contentType)
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func migrateIsIdempotent(_ engine: DatabaseEngine) async throws {
        let service = try await Self.makeService(engine)
        try await service.makeApplication().test(.router) { _ in
            // The application already migrated on start-up; a second run finds nothing to do.
            let applied = try await service.migrate()
            #expect(applied.isEmpty)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func unknownRouteIsProblem404(_ engine: DatabaseEngine) async throws {
        let service = try await Self.makeService(engine)
        try await service.makeApplication().test(.router) { client in
            let response = try await client.execute(uri: "/api/notifications/nothing-here/at-all", method: .get)
            #expect(response.status == .notFound)
            #expect(response.headers[.contentType] == Problem.contentType)
            let problem = try Self.json(response.body)
            #expect(problem["status"] as? Int == 404)
            #expect(problem["title"] as? String == "Not Found")
            #expect(response.headers[.requestID] != nil)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func servesOverALiveListenerWithMetrics(_ engine: DatabaseEngine) async throws {
        let service = try await Self.makeService(engine)
        try await service.makeApplication().test(.live) { client in
            #expect(client.port != nil)
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(metrics.status == .ok)
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(String(buffer: metrics.body).contains(#"route="/healthz""#))
        }
    }
}
