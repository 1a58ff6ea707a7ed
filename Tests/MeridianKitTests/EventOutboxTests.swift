import Foundation
import Logging
import MeridianKit
import MeridianTestSupport
import SQLKit
import Testing

@Suite struct EventOutboxTests {
    struct Rollback: Error {}

    @Test(arguments: TestDatabase.engines)
    func anEventIsCommittedWithItsChangeAndRolledBackWithIt(_ engine: DatabaseEngine) async throws {
        try await OutboxFixture.with(engine) { fixture in
            let committed = try await fixture.makeThing("thg_kept")
            await #expect(throws: Rollback.self) {
                try await fixture.database.transaction { sql in
                    try await sql.insert(into: "things").columns("id").values(SQLBind("thg_lost")).run()
                    try await fixture.outbox.enqueue(type: "thing.made", payload: .object([:]), on: sql)
                    throw Rollback()
                }
            }
            #expect(try await fixture.count("things") == 1)
            #expect(try await fixture.count("outbox_events") == 1)
            let deliveries = try await fixture.store.deliveries()
            #expect(deliveries.map(\.eventID) == [committed.id, committed.id])
            #expect(deliveries.map(\.subscriber) == ["alpha", "beta"])
            #expect(deliveries.allSatisfy { $0.status == .pending && $0.attempts == 0 })
        }
    }

    @Test(arguments: TestDatabase.engines)
    func eachSubscriberOfTheTypeGetsOneDeliveryAndUnsubscribedTypesNone(_ engine: DatabaseEngine) async throws {
        try await OutboxFixture.with(engine) { fixture in
            let gone = try await fixture.database.transaction { sql in
                try await fixture.outbox.enqueue(type: "thing.gone", payload: .object([:]), on: sql)
            }
            let nobody = try await fixture.database.transaction { sql in
                try await fixture.outbox.enqueue(type: "thing.ignored", payload: .object([:]), on: sql)
            }
            #expect(try await fixture.store.deliveries(eventID: gone.id).map(\.subscriber) == ["alpha"])
            #expect(try await fixture.store.deliveries(eventID: nobody.id).isEmpty)
            // The event itself is still recorded.
            #expect(try await fixture.count("outbox_events") == 2)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func thePayloadIsCiphertextBoundToItsEvent(_ engine: DatabaseEngine) async throws {
        try await OutboxFixture.with(engine) { fixture in
            let secret = "thing-with-a-recognisable-value"
            let first = try await fixture.makeThing(secret)
            let second = try await fixture.makeThing()
            let stored = try await fixture.store.events(ids: [first.id, second.id])
            let sealed = try #require(stored[first.id]?.sealedPayload)
            #expect(sealed.range(of: Data(secret.utf8)) == nil)
            let opened = try fixture.cipher.openBytes(
                sealed, table: "outbox_events", column: "payload", rowID: first.id)
            #expect(try JSONValue.parse(opened) == first.payload)
            // Moved to another event's row, it does not open.
            #expect(throws: (any Error).self) {
                try fixture.cipher.openBytes(sealed, table: "outbox_events", column: "payload", rowID: second.id)
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func theEnvelopeCarriesTheCurrentTraceContext(_ engine: DatabaseEngine) async throws {
        try await OutboxFixture.with(engine) { fixture in
            let trace = try #require(
                TraceContext(
                    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tracestate: "congo=t61rcWkgMzE"))
            let traced = try await TraceContext.$current.withValue(trace) { try await fixture.makeThing() }
            let untraced = try await fixture.makeThing()
            #expect(traced.traceparent == trace.traceparent)
            #expect(traced.tracestate == "congo=t61rcWkgMzE")
            #expect(untraced.traceparent == nil)
            let stored = try await fixture.store.events(ids: [traced.id, untraced.id])
            #expect(stored[traced.id]?.traceparent == trace.traceparent)
            #expect(stored[untraced.id]?.traceparent == nil)
        }
    }

    @Test func malformedTraceContextIsIgnored() {
        #expect(TraceContext(traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tracestate: nil) != nil)
        // Upper case, all-zero ids, version ff, wrong lengths, extra fields on version 00.
        for bad in [
            "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", "", "garbage",
        ] {
            #expect(TraceContext(traceparent: bad, tracestate: nil) == nil, "\(bad)")
        }
        // A later version may append fields.
        #expect(TraceContext(traceparent: "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-ab", tracestate: nil) != nil)
        // A malformed tracestate is dropped, the traceparent kept.
        let context = TraceContext(
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tracestate: "no-equals-sign")
        #expect(context?.tracestate == nil)
    }

    @Test func theEnvelopeSerialisesWithSnakeCaseMembersAndPayloadKeysUntouched() throws {
        let envelope = EventEnvelope(
            id: "evt_01J0000000000000000000000A", type: "order.paid",
            occurredAt: Date(timeIntervalSince1970: 1_700_000_000.5), producer: "orders", traceparent: nil,
            tracestate: nil, payload: .object(["orderId": .string("x"), "total": .object(["amount_minor": .integer(5)])]))
        let text = String(decoding: envelope.serialized(), as: UTF8.self)
        #expect(
            text
                == #"{"id":"evt_01J0000000000000000000000A","occurred_at":"2023-11-14T22:13:20.500Z","payload":{"orderId":"x","total":{"amount_minor":5}},"producer":"orders","traceparent":null,"tracestate":null,"type":"order.paid"}"#
        )
        // Codable round trip (what a consumer using JSONDecoder gets).
        let decoded = try JSONDecoder().decode(EventEnvelope.self, from: Data(envelope.serialized()))
        #expect(decoded.id == envelope.id && decoded.payload == envelope.payload && decoded.type == envelope.type)
        let encoded = try JSONEncoder().encode(envelope)
        #expect(try JSONDecoder().decode(EventEnvelope.self, from: encoded).payload == envelope.payload)
    }

    @Test func thePlatformSubscriptionsFollowTheContract() {
        let platform = EventSubscriptions.platform
        for type in [EventType.orderCreated, EventType.orderPaid, EventType.orderCancelled, EventType.orderRefunded] {
            #expect(platform.subscribers(of: type) == ["analytics", "notifications"])
        }
        #expect(platform.subscribers(of: EventType.userCreated) == ["analytics"])
        #expect(platform.subscribers(of: "order.shipped").isEmpty)
    }
}

@Suite struct OutboxDeliveryPolicyTests {
    @Test func theDelayCapDoublesPerAttemptUpToTheMaximum() {
        let policy = OutboxDeliveryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(20))
        #expect((1...7).map { policy.delayCap(afterAttempts: $0) } == [1, 2, 4, 8, 16, 20, 20].map { .seconds($0) })
    }

    @Test func retryDelaysAreFullJitterBetweenZeroAndTheCap() {
        let policy = OutboxDeliveryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(600))
        var generator = SeededGenerator(seed: 42)
        for attempts in 1...8 {
            let cap = policy.delayCap(afterAttempts: attempts)
            let delays = (0..<200).map { _ in policy.retryDelay(afterAttempts: attempts, using: &generator) }
            #expect(delays.allSatisfy { $0 >= .zero && $0 <= cap })
            // Spread over the whole range, not bunched at the cap (what plain exponential backoff would do).
            #expect(delays.contains { $0 < cap / 4 } && delays.contains { $0 > cap * 3 / 4 })
        }
    }

    @Test func aDeliveryIsDeadAfterMaxAttemptsOrMaxAge() {
        let policy = OutboxDeliveryPolicy(
            maxAttempts: 3, maxAge: .seconds(3600), baseDelay: .seconds(1), maxDelay: .seconds(10))
        var generator = SeededGenerator(seed: 7)
        let created = Date(timeIntervalSince1970: 1_000_000)
        #expect(policy.nextAttempt(afterAttempts: 1, createdAt: created, now: created, using: &generator) != nil)
        #expect(policy.nextAttempt(afterAttempts: 2, createdAt: created, now: created, using: &generator) != nil)
        #expect(policy.nextAttempt(afterAttempts: 3, createdAt: created, now: created, using: &generator) == nil)
        let late = created.addingTimeInterval(3600)
        #expect(policy.nextAttempt(afterAttempts: 1, createdAt: created, now: late, using: &generator) == nil)
    }

    @Test func theLeaseOutlastsTheRequestTimeout() {
        let policy = OutboxDeliveryPolicy(lease: .seconds(1), requestTimeout: .seconds(10))
        #expect(policy.lease > policy.requestTimeout)
    }
}
