import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import NIOCore
import SQLKit
import Synchronization

/// A producer's side of the event tests: a running database with the outbox (and a table standing for the
/// producer's own data), a loaded cipher and an outbox over them.
struct OutboxFixture: Sendable {
    let database: any Database
    let cipher: FieldCipher
    let outbox: Outbox
    let metrics: ServiceMetrics

    static let producer = "orders"
    static let subscriptions = EventSubscriptions(["thing.made": ["alpha", "beta"], "thing.gone": ["alpha"]])

    static func with<T: Sendable>(
        _ engine: DatabaseEngine, subscriptions: EventSubscriptions = OutboxFixture.subscriptions,
        _ body: @Sendable (OutboxFixture) async throws -> T
    ) async throws -> T {
        try await withDatabase(engine) { database in
            try await Migrator(
                database: database,
                migrations: CryptoMigrations.all + AuditMigrations.all + OutboxMigrations.all + [
                    Migration("things", statements: ["CREATE TABLE things (id TEXT PRIMARY KEY)"])
                ],
                logger: Logger(label: "t")
            ).run()
            let cipher = FieldCipher(service: producer, database: database, masterKey: TestMasterKey.make())
            try await cipher.load()
            let outbox = Outbox(producer: producer, cipher: cipher, subscriptions: subscriptions)
            return try await body(
                OutboxFixture(
                    database: database, cipher: cipher, outbox: outbox, metrics: ServiceMetrics(service: producer)))
        }
    }

    var store: OutboxStore { OutboxStore(database: database) }

    /// Writes a thing and its `thing.made` event in one transaction.
    @discardableResult
    func makeThing(_ id: String = Identifier.make(prefix: "thg")) async throws -> EventEnvelope {
        try await database.transaction { sql in
            try await sql.insert(into: "things").columns("id").values(SQLBind(id)).run()
            return try await outbox.enqueue(type: "thing.made", payload: .object(["thing_id": .string(id)]), on: sql)
        }
    }

    func dispatcher(
        urls: [String: String], tokens: any ServiceTokenSource, policy: OutboxDeliveryPolicy = OutboxDeliveryPolicy()
    ) -> OutboxDispatcher {
        OutboxDispatcher(
            producer: OutboxFixture.producer, database: database, cipher: cipher,
            subscriberURL: { service in
                guard let url = urls[service] else { throw NoURL() }
                return url
            }, tokens: tokens, metrics: metrics, policy: policy, logger: quietEventLogger())
    }

    func count(_ table: String) async throws -> Int {
        try await database.read { sql in
            let row = try await sql.raw("SELECT COUNT(*) AS n FROM \(ident: table)").first()
            return Int(try row?.decode(column: "n", as: Int64.self) ?? 0)
        }
    }
}

struct NoURL: Error {}

func quietEventLogger() -> Logger {
    var logger = Logger(label: "event-tests")
    logger.logLevel = .critical
    return logger
}

/// Real access tokens of the built-in `service` role, as the users service issues to a client-credentials client.
/// Counts invalidations, so a test can see a refused token dropped.
final class TestServiceTokens: ServiceTokenSource {
    let tokens: TestTokens
    private let invalidated = Mutex<[String]>([])

    init(_ tokens: TestTokens) { self.tokens = tokens }

    func token() async throws -> String { try await tokens.token(.service, subject: "meridian-services") }
    func invalidate(_ token: String) async { invalidated.withLock { $0.append(token) } }
    var invalidations: Int { invalidated.withLock { $0.count } }
}

/// A consuming service's side: its own database with an inbox and a table the handler writes its effect to
/// (one row per applied event, so a second application would be a second row or a unique violation).
struct InboxFixture: Sendable {
    let database: any Database
    let inbox: Inbox

    static func with<T: Sendable>(_ engine: DatabaseEngine, _ body: @Sendable (InboxFixture) async throws -> T)
        async throws -> T
    {
        try await withDatabase(engine) { database in
            try await Migrator(
                database: database,
                migrations: InboxMigrations.all + [
                    Migration(
                        "effects",
                        statements: [
                            "CREATE TABLE effects (event_id TEXT NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL, traceparent TEXT)"
                        ])
                ],
                logger: Logger(label: "t")
            ).run()
            return try await body(InboxFixture(database: database, inbox: Inbox(database: database, logger: quietEventLogger())))
        }
    }

    /// The effect of an event: one row, with no unique key, so a second application shows as a second row.
    static let recordEffect: @Sendable (EventEnvelope, any SQLDatabase) async throws -> Void = { envelope, sql in
        try await sql.insert(into: "effects").columns("event_id", "type", "payload", "traceparent")
            .values(
                SQLBind(envelope.id), SQLBind(envelope.type),
                SQLBind(String(decoding: envelope.payload.serialized(), as: UTF8.self)),
                SQLBind(TraceContext.current?.traceparent)
            ).run()
    }

    struct Effect: Sendable, Equatable {
        let eventID: String
        let type: String
        let payload: String
        let traceparent: String?
    }

    func effects() async throws -> [Effect] {
        try await database.read { sql in
            try await sql.select().columns("event_id", "type", "payload", "traceparent").from("effects").orderBy("event_id")
                .all().map {
                    Effect(
                        eventID: try $0.decode(column: "event_id", as: String.self),
                        type: try $0.decode(column: "type", as: String.self),
                        payload: try $0.decode(column: "payload", as: String.self),
                        traceparent: try $0.decode(column: "traceparent", as: String?.self))
                }
        }
    }

    /// A consumer's router: the kernel's shared middleware, real token checks, and the receiver.
    func router(
        tokens: TestTokens,
        handler: @escaping @Sendable (EventEnvelope, any SQLDatabase) async throws -> Void = InboxFixture.recordEffect
    ) -> Router<MeridianRequestContext> {
        let router = ServiceHost.makeRouter(metrics: ServiceMetrics(service: "consumer"), readiness: Readiness())
        router.add(middleware: AccessControlMiddleware(table: EventReceiver.accessRules, verifier: tokens.verifier))
        EventReceiver.mount(on: router, inbox: inbox, handler: handler)
        return router
    }
}

/// A well-formed envelope as a producer would send it.
func sampleEnvelope(
    type: String = "thing.made", traceparent: String? = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
) -> EventEnvelope {
    EventEnvelope(
        id: Identifier.make(prefix: EventEnvelope.idPrefix), type: type, occurredAt: Date(), producer: "orders",
        traceparent: traceparent, tracestate: traceparent == nil ? nil : "vendor=abc",
        payload: .object(["thing_id": .string("thg_1"), "count": .integer(3)]))
}

extension EventEnvelope {
    var body: ByteBuffer { ByteBuffer(bytes: serialized()) }
}

let eventJSONHeaders: HTTPFields = [.contentType: "application/json"]
