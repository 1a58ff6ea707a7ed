import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import SQLKit
import Testing

@testable import Notifications

/// Two claimers on one queue at once: on PostgreSQL two replicas of the service (each its own connection pool),
/// whose workers skip the rows another is claiming (`FOR UPDATE SKIP LOCKED`); on SQLite, which one process
/// writes, two workers of one service, whose claims take turns on its single writer. Either way no delivery is
/// claimed by both and none is left behind.
@Suite struct ConcurrentClaimTests {
    typealias H = NotificationHarness

    static let deliveries = 40

    /// A replica: its own connection pool (and cipher, VAPID key cache) on `settings`' database.
    static func replica(_ settings: ServiceSettings, tokens: TestTokens) throws -> NotificationsService {
        var logger = Logger(label: "notifications-test")
        logger.logLevel = .warning
        return try NotificationsService(
            settings: settings, logger: logger, verifier: tokens.verifier,
            notifications: NotificationSettings(concurrency: 0, allowLoopbackHTTPPush: true),
            tokens: nil, directory: FixedDirectory(addresses: [:]), pushClient: HTTPClientHolder.client)
    }

    /// Runs `body` with the two services whose queues and workers compete, on one fresh database: two replicas on
    /// PostgreSQL, the same service twice on SQLite. (Two SQLite pools on one file in one process would starve
    /// the shared blocking thread pool while one waits out the other's lock: not a deployment Meridian has.)
    static func withTwoInstances(
        _ engine: DatabaseEngine,
        _ body: @Sendable (TestTokens, NotificationsService, NotificationsService, any TestClientProtocol) async throws -> Void
    ) async throws {
        let tokens = await TestTokens.make()
        let settings = NotificationsServiceTests.settings(engine)
        let first = try replica(settings, tokens: tokens)
        try await first.makeApplication().test(.router) { client in
            guard engine == .postgres else { return try await body(tokens, first, first, client) }
            // Nested, so the second starts on a database the first has migrated.
            let second = try replica(settings, tokens: tokens)
            try await second.makeApplication().test(.router) { _ in
                try await body(tokens, first, second, client)
            }
        }
    }

    static func deliveryRows(_ service: NotificationsService) async throws -> [(status: String, attempts: Int)] {
        try await service.database.read { sql in
            try await sql.select().columns("status", "attempts").from("notification_deliveries").all().map {
                (try $0.decode(column: "status", as: String.self), try $0.decode(column: "attempts", as: Int.self))
            }
        }
    }

    /// Claims until the queue has nothing due, in small batches so that two claimers interleave often.
    static func drain(_ queue: DeliveryQueue, now: Date) async throws -> [DeliveryQueue.Claim] {
        var claimed: [DeliveryQueue.Claim] = []
        while true {
            let batch = try await queue.claim(limit: 2, now: now)
            if batch.isEmpty { return claimed }
            claimed += batch
        }
    }

    /// Runs a delivery worker of `service` until a round finds nothing to claim; returns how many it handled.
    static func drain(_ service: NotificationsService) async throws -> Int {
        var worker = service.worker
        worker.batchSize = 4
        var handled = 0
        while true {
            let count = try await worker.runOnce()
            if count == 0 { return handled }
            handled += count
        }
    }

    @Test(arguments: TestDatabase.engines)
    func concurrentClaimsNeverShareADelivery(_ engine: DatabaseEngine) async throws {
        try await Self.withTwoInstances(engine) { tokens, first, second, client in
            let admin = try await tokens.token(.admin, subject: Identifier.make(prefix: "usr"))
            let recipients = (0..<Self.deliveries).map { _ in #"{"user_id":"\#(Identifier.make(prefix: "usr"))"}"# }
            let sent = try await client.call(.post, "/api/notifications", token: admin,
                body: #"{"recipients":[\#(recipients.joined(separator: ","))],"channels":["email"],"category":"news","subject":"s","text":"t"}"#)
            #expect(sent.status == .accepted)

            let now = Date()
            async let firstClaims = Self.drain(first.queue, now: now)
            async let secondClaims = Self.drain(second.queue, now: now)
            let (a, b) = try await (firstClaims, secondClaims)

            let firstIDs = a.map(\.delivery.id)
            let secondIDs = b.map(\.delivery.id)
            #expect(Set(firstIDs).intersection(secondIDs).isEmpty, "claimed twice")
            #expect(firstIDs.count + secondIDs.count == Self.deliveries)
            #expect(Set(firstIDs + secondIDs).count == Self.deliveries)
            #expect((a + b).allSatisfy { $0.delivery.attempts == 1 })
            let rows = try await Self.deliveryRows(first)
            #expect(rows.count == Self.deliveries)
            #expect(rows.allSatisfy { $0.status == "sending" && $0.attempts == 1 })
            #expect(try await first.queue.claim(limit: 100, now: now).isEmpty)
            #expect(try await second.queue.claim(limit: 100, now: now).isEmpty)
        }
    }

    /// End to end: two delivery workers drain the queue of push deliveries at the same time; the push
    /// service receives every notification exactly once (its topic is the notification's id).
    @Test(arguments: TestDatabase.engines)
    func twoWorkersSendEveryDeliveryExactlyOnce(_ engine: DatabaseEngine) async throws {
        let pushService = LoopbackPushService()
        try await pushService.application().test(.live) { push in
            let port = try #require(push.port)
            try await Self.withTwoInstances(engine) { tokens, first, second, client in
                let admin = try await tokens.token(.admin, subject: Identifier.make(prefix: "usr"))
                let alice = Identifier.make(prefix: "usr")
                let aliceToken = try await tokens.token(.customer, subject: alice)
                _ = try await DeliveryTests.subscribe(client, token: aliceToken, port: port, path: "a")
                var notificationIDs: [String] = []
                for index in 0..<Self.deliveries {
                    let sent = try await client.call(.post, "/api/notifications", token: admin,
                        body: #"{"recipients":[{"user_id":"\#(alice)"}],"channels":["push"],"category":"news","subject":"\#(index)","text":"t"}"#)
                    notificationIDs.append(try #require(((try H.json(sent)["data"] as? [[String: Any]])?.first)?["id"] as? String))
                }

                async let firstHandled = Self.drain(first)
                async let secondHandled = Self.drain(second)
                let (a, b) = try await (firstHandled, secondHandled)
                #expect(a + b == Self.deliveries)

                let topics = pushService.received.compactMap { $0.headers[HTTPField.Name("Topic")!] }
                #expect(topics.count == Self.deliveries)
                #expect(Set(topics) == Set(notificationIDs.map { $0.replacingOccurrences(of: "_", with: "-") }))
                let rows = try await Self.deliveryRows(second)
                #expect(rows.count == Self.deliveries)
                #expect(rows.allSatisfy { $0.status == "sent" && $0.attempts == 1 })
                let attempts = try await first.database.read { sql in
                    try await sql.select().column("delivery_id").from("delivery_attempts").all()
                        .map { try $0.decode(column: "delivery_id", as: String.self) }
                }
                #expect(attempts.count == Self.deliveries)
                #expect(Set(attempts).count == Self.deliveries)
            }
        }
    }
}
