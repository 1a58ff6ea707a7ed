import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import SQLKit
import Synchronization
import Testing

/// Runs `body` with a live consumer on a free loopback port: a real Hummingbird server with the kernel's
/// middleware, token checks and `EventReceiver`, over its own inbox database.
func withLiveConsumer<T: Sendable>(
    _ engine: DatabaseEngine, tokens: TestTokens,
    handler: @escaping @Sendable (EventEnvelope, any SQLDatabase) async throws -> Void = InboxFixture.recordEffect,
    _ body: @escaping @Sendable (_ url: String, _ consumer: InboxFixture) async throws -> T
) async throws -> T {
    try await InboxFixture.with(engine) { consumer in
        let app = Application(
            router: consumer.router(tokens: tokens, handler: handler),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietEventLogger())
        let result = Mutex<T?>(nil)
        try await app.test(.live) { client in
            let value = try await body("http://127.0.0.1:\(try #require(client.port))", consumer)
            result.withLock { $0 = value }
        }
        return try #require(result.withLock { $0 })
    }
}

/// Runs `body` with a live server whose `/internal/events` answers `status` to everything, counting requests.
func withFailingSubscriber(
    status: HTTPResponse.Status, _ body: @escaping @Sendable (_ url: String, _ hits: HitCounter) async throws -> Void
) async throws {
    let hits = HitCounter()
    let router = Router()
    router.post(RouterPath(EventReceiver.path)) { _, _ -> Response in
        hits.add()
        return Response(status: status)
    }
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietEventLogger())
    try await app.test(.live) { client in try await body("http://127.0.0.1:\(try #require(client.port))", hits) }
}

final class HitCounter: Sendable {
    private let hits = Atomic<Int>(0)
    func add() { hits.add(1, ordering: .relaxed) }
    var count: Int { hits.load(ordering: .relaxed) }
}

/// A loopback URL nothing listens on: a server's port after the server has stopped.
func refusedURL() async throws -> String {
    let app = Application(
        router: Router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietEventLogger())
    let port = Mutex<Int>(0)
    try await app.test(.live) { client in port.withLock { $0 = client.port ?? 0 } }
    return "http://127.0.0.1:\(port.withLock { $0 })"
}

/// One subscriber for the dispatch tests, so every event has exactly one delivery.
let singleSubscriber = EventSubscriptions(["thing.made": ["alpha"]])

@Suite struct EventDispatcherTests {
    @Test(arguments: TestDatabase.engines)
    func anEventReachesARealSubscriberWhichAppliesIt(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        try await OutboxFixture.with(engine, subscriptions: singleSubscriber) { producer in
            try await withLiveConsumer(engine, tokens: tokens) { url, consumer in
                let trace = TraceContext(
                    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: nil)
                let event = try await TraceContext.$current.withValue(trace) { try await producer.makeThing("thg_x") }
                let dispatcher = producer.dispatcher(urls: ["alpha": url], tokens: TestServiceTokens(tokens))
                let round = try await dispatcher.dispatchDue()
                #expect(round.claimed == 1 && round.delivered == 1)
                let effects = try await consumer.effects()
                #expect(effects.count == 1)
                #expect(effects.first?.eventID == event.id)
                #expect(effects.first?.type == "thing.made")
                #expect(effects.first?.payload == #"{"thing_id":"thg_x"}"#)
                // The trace context crossed the hop: the handler ran inside it.
                #expect(effects.first?.traceparent == trace?.traceparent)
                #expect(try await consumer.inbox.outcome(of: event.id) == .applied)
                let delivery = try #require(try await producer.store.deliveries(eventID: event.id).first)
                #expect(delivery.status == .delivered && delivery.attempts == 1 && delivery.deliveredAt != nil)
                // Nothing left to do.
                #expect(try await dispatcher.dispatchDue().claimed == 0)
                let metrics = String(decoding: producer.metrics.exposition(), as: UTF8.self)
                #expect(metrics.contains(#"outbox_delivered_total{subscriber="alpha"} 1"#))
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aRedeliveredEventIsAcknowledgedAndNotAppliedAgain(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        try await OutboxFixture.with(engine, subscriptions: singleSubscriber) { producer in
            try await withLiveConsumer(engine, tokens: tokens) { url, consumer in
                let event = try await producer.makeThing()
                let dispatcher = producer.dispatcher(urls: ["alpha": url], tokens: TestServiceTokens(tokens))
                #expect(try await dispatcher.dispatchDue().delivered == 1)
                // The operator sends it again (as after a lost acknowledgement): delivered, applied once.
                try await producer.database.transaction { sql in
                    try await sql.update("outbox_deliveries").set("status", to: SQLBind("pending")).run()
                }
                #expect(try await dispatcher.dispatchDue().delivered == 1)
                #expect(try await consumer.effects().map(\.eventID) == [event.id])
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func a5xxIsRetriedWithBackoffAndDeadAfterTheAttemptBound(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        try await OutboxFixture.with(engine, subscriptions: singleSubscriber) { producer in
            try await withFailingSubscriber(status: .serviceUnavailable) { url, hits in
                let event = try await producer.makeThing()
                let policy = OutboxDeliveryPolicy(maxAttempts: 3, baseDelay: .seconds(10), maxDelay: .seconds(60))
                let dispatcher = producer.dispatcher(
                    urls: ["alpha": url], tokens: TestServiceTokens(tokens), policy: policy)
                var now = Date()
                for attempt in 1...3 {
                    let round = try await dispatcher.dispatchDue(now: now)
                    #expect(round.claimed == 1)
                    let delivery = try #require(try await producer.store.deliveries(eventID: event.id).first)
                    #expect(delivery.attempts == attempt)
                    #expect(delivery.lastError == "HTTP 503")
                    if attempt < 3 {
                        #expect(round.retried == 1 && delivery.status == .pending)
                        // Full jitter: due somewhere between now and the cap of this attempt.
                        let cap = 10.0 * pow(2, Double(attempt - 1))
                        let wait = delivery.nextAttemptAt.timeIntervalSince(now)
                        #expect(wait >= -0.001 && wait <= cap + 0.001)
                        // Not due before its time (unless the draw was zero).
                        if wait > 0.01 {
                            #expect(try await dispatcher.dispatchDue(now: now).claimed == 0)
                        }
                        now = delivery.nextAttemptAt.addingTimeInterval(0.001)
                    } else {
                        #expect(round.dead == 1 && delivery.status == .dead)
                    }
                }
                #expect(hits.count == 3)
                #expect(try await producer.store.deliveries(status: .dead).map(\.eventID) == [event.id])
                // Dead letters are not retried any more ...
                #expect(try await dispatcher.dispatchDue(now: now.addingTimeInterval(86_400)).claimed == 0)
                let metrics = String(decoding: producer.metrics.exposition(), as: UTF8.self)
                #expect(metrics.contains(#"outbox_retried_total{subscriber="alpha"} 2"#))
                #expect(metrics.contains(#"outbox_dead_total{subscriber="alpha"} 1"#))
                // ... until an operator requeues them, with a fresh budget.
                #expect(try await producer.store.requeueDead(eventID: event.id, now: now) == 1)
                let requeued = try #require(try await producer.store.deliveries(eventID: event.id).first)
                #expect(requeued.status == .pending && requeued.attempts == 0)
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aRefusedConnectionIsRetried(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        let url = try await refusedURL()
        try await OutboxFixture.with(engine, subscriptions: singleSubscriber) { producer in
            let event = try await producer.makeThing()
            let dispatcher = producer.dispatcher(urls: ["alpha": url], tokens: TestServiceTokens(tokens))
            let round = try await dispatcher.dispatchDue()
            #expect(round.retried == 1)
            let delivery = try #require(try await producer.store.deliveries(eventID: event.id).first)
            #expect(delivery.status == .pending && delivery.attempts == 1)
            #expect(delivery.lastError == "the alpha service is unreachable")
            let backlog = try await producer.store.backlog()
            #expect(backlog.pending == 1 && backlog.oldestPending != nil)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aDeliveryOlderThanTheAgeBoundIsDeadAtItsNextFailure(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        let url = try await refusedURL()
        try await OutboxFixture.with(engine, subscriptions: singleSubscriber) { producer in
            let event = try await producer.makeThing()
            let policy = OutboxDeliveryPolicy(maxAttempts: 100, maxAge: .seconds(3600))
            let dispatcher = producer.dispatcher(urls: ["alpha": url], tokens: TestServiceTokens(tokens), policy: policy)
            let round = try await dispatcher.dispatchDue(now: Date().addingTimeInterval(3601))
            #expect(round.dead == 1)
            #expect(try await producer.store.deliveries(eventID: event.id).first?.status == .dead)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aRefusedTokenIsDroppedSoTheNextAttemptFetchesAnother(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        try await OutboxFixture.with(engine, subscriptions: singleSubscriber) { producer in
            try await withFailingSubscriber(status: .unauthorized) { url, _ in
                try await producer.makeThing()
                let source = TestServiceTokens(tokens)
                let dispatcher = producer.dispatcher(urls: ["alpha": url], tokens: source)
                #expect(try await dispatcher.dispatchDue().retried == 1)
                #expect(source.invalidations == 1)
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aLeaseLeftByACrashedDispatcherIsTakenAgainOnceItExpires(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        try await OutboxFixture.with(engine, subscriptions: singleSubscriber) { producer in
            try await withLiveConsumer(engine, tokens: tokens) { url, consumer in
                let event = try await producer.makeThing()
                let now = Date()
                // The "crashed" dispatcher claimed the delivery and never came back.
                let crashed = try await producer.store.claim(
                    owner: "dsp_crashed", limit: 10, now: now, leaseUntil: now.addingTimeInterval(30))
                #expect(crashed.map(\.eventID) == [event.id])
                let survivor = producer.dispatcher(urls: ["alpha": url], tokens: TestServiceTokens(tokens))
                // While the lease holds, nobody else takes it.
                #expect(try await survivor.dispatchDue(now: now.addingTimeInterval(29)).claimed == 0)
                #expect(try await consumer.effects().isEmpty)
                // Once it has expired, the survivor delivers it.
                #expect(try await survivor.dispatchDue(now: now.addingTimeInterval(31)).delivered == 1)
                #expect(try await consumer.effects().map(\.eventID) == [event.id])
                // The crashed dispatcher, were it to wake up, can no longer record anything.
                let stale = try #require(crashed.first)
                #expect(try await producer.store.markDelivered(stale, owner: "dsp_crashed", now: now) == false)
                #expect(
                    try await producer.store.markFailed(stale, owner: "dsp_crashed", error: "late", retryAt: nil) == false)
                #expect(try await producer.store.deliveries(eventID: event.id).first?.status == .delivered)
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func concurrentClaimsNeverShareADelivery(_ engine: DatabaseEngine) async throws {
        try await OutboxFixture.with(engine, subscriptions: singleSubscriber) { producer in
            for _ in 0..<60 { try await producer.makeThing() }
            let now = Date()
            let claims = try await withThrowingTaskGroup(of: [String].self, returning: [[String]].self) { group in
                for index in 0..<6 {
                    group.addTask {
                        try await producer.store.claim(
                            owner: "dsp_\(index)", limit: 7, now: now, leaseUntil: now.addingTimeInterval(30)
                        ).map(\.eventID)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let all = claims.flatMap { $0 }
            #expect(all.count == 42)
            #expect(Set(all).count == all.count)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func twoDispatchersDeliverEveryEventExactlyOnce(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        // Counts every request on its way to the consumer, before the inbox: a concurrent double delivery would
        // show here even though the inbox would hide it.
        let received = Mutex<[String: Int]>([:])
        try await OutboxFixture.with(engine, subscriptions: singleSubscriber) { producer in
            try await withLiveConsumer(engine, tokens: tokens) { url, consumer in
                let router = Router()
                // Generous timeouts on both hops: a delivery that times out on a starved machine is retried, and
                // that legitimate second attempt would look like a double delivery here. The rule under test is
                // that two dispatchers never claim the same event, so no attempt may fail for want of time.
                let forwarder = ServiceClient(service: "alpha", baseURL: url, timeout: .seconds(120))
                router.post(RouterPath(EventReceiver.path)) { request, _ -> Response in
                    var request = request
                    let body = try await request.collectBody(upTo: 1 << 20)
                    let envelope = try JSONDecoder().decode(EventEnvelope.self, from: Data(body.readableBytesView))
                    received.withLock { $0[envelope.id, default: 0] += 1 }
                    let headers = request.headers[values: .authorization].map { ("Authorization", $0) }
                    let reply = try await forwarder.send(.POST, EventReceiver.path, headers: headers, body: body)
                    return Response(status: .init(code: reply.status))
                }
                let proxy = Application(
                    router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                    logger: quietEventLogger())
                try await proxy.test(.live) { client in
                    let proxyURL = "http://127.0.0.1:\(try #require(client.port))"
                    var ids: [String] = []
                    for _ in 0..<40 { ids.append(try await producer.makeThing().id) }
                    let policy = OutboxDeliveryPolicy(requestTimeout: .seconds(120), batchSize: 5)
                    let first = producer.dispatcher(urls: ["alpha": proxyURL], tokens: TestServiceTokens(tokens), policy: policy)
                    let second = producer.dispatcher(urls: ["alpha": proxyURL], tokens: TestServiceTokens(tokens), policy: policy)
                    let failedAttempts = try await withThrowingTaskGroup(of: Int.self) { group in
                        for dispatcher in [first, second] {
                            group.addTask {
                                var failed = 0
                                while true {
                                    let round = try await dispatcher.dispatchDue()
                                    failed += round.retried + round.dead
                                    if round.claimed == 0 { return failed }
                                }
                            }
                        }
                        return try await group.reduce(0, +)
                    }
                    #expect(failedAttempts == 0, "an attempt failed, so its retry is a second request by design")
                    let counts = received.withLock { $0 }
                    #expect(Set(counts.keys) == Set(ids))
                    #expect(counts.values.allSatisfy { $0 == 1 })
                    #expect(Set(try await consumer.effects().map(\.eventID)) == Set(ids))
                    #expect(try await producer.store.deliveries(status: .delivered).count == 40)
                }
            }
        }
    }
}
