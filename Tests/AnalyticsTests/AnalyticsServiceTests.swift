import Analytics
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import Testing

@Suite struct AnalyticsServiceTests {
    static func settings(_ engine: DatabaseEngine, serviceURLs: [String: String] = [:]) -> ServiceSettings {
        var settings = ServiceSettings(
            name: AnalyticsService.name, listen: ListenAddress(host: "127.0.0.1", port: 0),
            databaseURL: TestDatabase.url(engine, service: AnalyticsService.name), serviceURLs: serviceURLs,
            issuer: TestTokens.issuer
        ).withTestMasterKey()
        // The platform's own client, the only one whose refusal reports analytics accepts.
        settings.serviceClient = ServiceClientCredentials(clientSecret: "analytics-tests")
        return settings
    }

    static func makeService(_ engine: DatabaseEngine, tokens: TestTokens? = nil) async throws -> AnalyticsService {
        let verifier = if let tokens { tokens.verifier } else { await TestTokens.make().verifier }
        return try AnalyticsService(
            settings: settings(engine), logger: quietLogger(), verifier: verifier,
            configuration: AnalyticsConfiguration())
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
                database: service.database, migrations: AnalyticsMigrations.all, logger: Logger(label: "test")
            ).appliedNames()
            // The service's own migrations in order, then the kernel's (data keys) that ServiceCore appends.
            #expect(Array(applied.prefix(AnalyticsMigrations.all.count)) == AnalyticsMigrations.all.map(\.name))
            #expect(applied.contains(CryptoMigrations.all[0].name))
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

    /// The service's audit records go to the kernel's shared audit log, configured like every service's: here a
    /// checkpoint policy of one record, so the first audited mutation is signed at once (the standard policy
    /// would wait for 1000 records or five minutes).
    @Test(arguments: TestDatabase.engines)
    func auditsThroughTheKernelsLogAndItsCheckpointPolicy(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        var settings = Self.settings(engine)
        settings.auditCheckpoints = AuditCheckpointPolicy(everyRecords: 1, everySeconds: 3600)
        let service = try AnalyticsService(
            settings: settings, logger: quietLogger(), verifier: tokens.verifier, configuration: AnalyticsConfiguration())
        let admin = try await tokens.token(.admin, subject: Identifier.make(prefix: "usr"))
        try await service.makeApplication().test(.router) { client in
            let created = try await BearerClient(client, token: admin).execute(
                uri: "/api/analytics/write-keys", method: .post)
            #expect(created.status == .created)
            let (records, checkpoints) = try await service.database.read { sql in
                (try await sql.select().column("action").from("audit_log").all(decodingColumn: "action", as: String.self),
                 try await sql.select().column("sequence").from("audit_checkpoints").all(decodingColumn: "sequence", as: Int64.self))
            }
            // The first start's key records come first, signed under the same policy.
            #expect(records == ["data_key.create", "index_key.create", "write_key.create"])
            #expect(checkpoints == [1, 2, 3])
            try await dropSchema(service)
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
            let response = try await client.execute(uri: "/api/analytics/nothing-here", method: .get)
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
