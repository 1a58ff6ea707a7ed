import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import NIOCore
import SQLKit
import Testing

@Suite struct EventInboxTests {
    struct HandlerBroke: Error {}

    func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    func fields(_ response: TestResponse) throws -> Set<String> {
        let errors = try #require(try json(response)["errors"] as? [[String: Any]])
        return Set(errors.compactMap { $0["field"] as? String })
    }

    @Test(arguments: TestDatabase.engines)
    func anEventIsAppliedOnceAndARepeatAnswers200DoingNothing(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        try await InboxFixture.with(engine) { consumer in
            let token = try await tokens.token(.service, subject: "meridian-services")
            try await Application(router: consumer.router(tokens: tokens)).test(.router) { base in
                let client = BearerClient(base, token: token)
                let envelope = sampleEnvelope()
                let first = try await client.execute(
                    uri: EventReceiver.path, method: .post, headers: eventJSONHeaders, body: envelope.body)
                #expect(first.status == .ok)
                #expect(try json(first)["outcome"] as? String == "applied")
                let again = try await client.execute(
                    uri: EventReceiver.path, method: .post, headers: eventJSONHeaders, body: envelope.body)
                #expect(again.status == .ok)
                #expect(try json(again)["outcome"] as? String == "duplicate")
                let effects = try await consumer.effects()
                #expect(effects.map(\.eventID) == [envelope.id])
                #expect(effects.first?.payload == #"{"count":3,"thing_id":"thg_1"}"#)
                #expect(effects.first?.traceparent == envelope.traceparent)
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func concurrentDuplicateDeliveriesApplyExactlyOnce(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        // A slow effect widens the window in which the duplicates overlap.
        let slow: @Sendable (EventEnvelope, any SQLDatabase) async throws -> Void = { envelope, sql in
            try await Task.sleep(for: .milliseconds(30))
            try await InboxFixture.recordEffect(envelope, sql)
        }
        try await withLiveConsumer(engine, tokens: tokens, handler: slow) { url, consumer in
            let token = try await tokens.token(.service, subject: "meridian-services")
            let envelopes = [sampleEnvelope(), sampleEnvelope(), sampleEnvelope()]
            // The rule is exactly-once application, not a deadline: the full suite starves this machine, and the
            // 24 deliveries (serialised on SQLite's one writer, each with its slow effect) took longer than the
            // production call deadline of 5 s.
            let client = ServiceClient(service: "consumer", baseURL: url, timeout: .seconds(120))
            let replies = try await withThrowingTaskGroup(of: (String, Int, String).self) { group in
                for envelope in envelopes {
                    for _ in 0..<8 {
                        group.addTask {
                            let reply = try await client.send(
                                .POST, EventReceiver.path, headers: [("Authorization", "Bearer \(token)")],
                                body: envelope.body)
                            let outcome = (try? JSONValue.parse(reply.body.readableBytesView)).flatMap { value -> String? in
                                if case .object(let members) = value, case .string(let text)? = members["outcome"] {
                                    return text
                                }
                                return nil
                            }
                            return (envelope.id, reply.status, outcome ?? "")
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.allSatisfy { $0.1 == 200 })
            for envelope in envelopes {
                let outcomes = replies.filter { $0.0 == envelope.id }.map(\.2)
                #expect(outcomes.filter { $0 == "applied" }.count == 1)
                #expect(outcomes.filter { $0 == "duplicate" }.count == 7)
            }
            let effects = try await consumer.effects()
            #expect(effects.count == 3)
            #expect(Set(effects.map(\.eventID)) == Set(envelopes.map(\.id)))
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aFailingHandlerRecordsNothingSoARedeliveryApplies(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        let failures = HitCounter()
        let flaky: @Sendable (EventEnvelope, any SQLDatabase) async throws -> Void = { envelope, sql in
            try await InboxFixture.recordEffect(envelope, sql)
            if failures.count == 0 {
                failures.add()
                throw HandlerBroke()
            }
        }
        try await InboxFixture.with(engine) { consumer in
            let token = try await tokens.token(.service, subject: "meridian-services")
            try await Application(router: consumer.router(tokens: tokens, handler: flaky)).test(.router) { base in
                let client = BearerClient(base, token: token)
                let envelope = sampleEnvelope()
                let failed = try await client.execute(
                    uri: EventReceiver.path, method: .post, headers: eventJSONHeaders, body: envelope.body)
                #expect(failed.status == .serviceUnavailable)
                #expect(failed.headers[.contentType] == Problem.contentType)
                #expect(try await consumer.inbox.outcome(of: envelope.id) == nil)
                #expect(try await consumer.effects().isEmpty)
                let retried = try await client.execute(
                    uri: EventReceiver.path, method: .post, headers: eventJSONHeaders, body: envelope.body)
                #expect(retried.status == .ok)
                #expect(try await consumer.effects().map(\.eventID) == [envelope.id])
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func anUnknownTypeIsRecordedAndAcknowledgedWithoutEffect(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        let handler: @Sendable (EventEnvelope, any SQLDatabase) async throws -> Void = { envelope, sql in
            // A write before the refusal must not survive it.
            try await InboxFixture.recordEffect(envelope, sql)
            guard envelope.type == "thing.made" else { throw UnhandledEventType(envelope.type) }
        }
        try await InboxFixture.with(engine) { consumer in
            let token = try await tokens.token(.service, subject: "meridian-services")
            try await Application(router: consumer.router(tokens: tokens, handler: handler)).test(.router) { base in
                let client = BearerClient(base, token: token)
                let envelope = sampleEnvelope(type: "thing.renamed")
                let response = try await client.execute(
                    uri: EventReceiver.path, method: .post, headers: eventJSONHeaders, body: envelope.body)
                #expect(response.status == .ok)
                #expect(try json(response)["outcome"] as? String == "ignored")
                #expect(try await consumer.inbox.outcome(of: envelope.id) == .ignored)
                #expect(try await consumer.effects().isEmpty)
                let again = try await client.execute(
                    uri: EventReceiver.path, method: .post, headers: eventJSONHeaders, body: envelope.body)
                #expect(try json(again)["outcome"] as? String == "duplicate")
            }
        }
    }

    @Test func malformedEnvelopesAreRefusedWithEveryBadField() async throws {
        let tokens = await TestTokens.make()
        try await InboxFixture.with(.sqlite) { consumer in
            let token = try await tokens.token(.service, subject: "meridian-services")
            try await Application(router: consumer.router(tokens: tokens)).test(.router) { base in
                let client = BearerClient(base, token: token)
                func post(_ text: String, headers: HTTPFields = eventJSONHeaders) async throws -> TestResponse {
                    try await client.execute(
                        uri: EventReceiver.path, method: .post, headers: headers, body: ByteBuffer(string: text))
                }
                let everythingWrong = try await post(
                    #"{"id":"ord_1","type":"Order Paid","occurred_at":"yesterday","producer":"Orders!","traceparent":"00-xyz","tracestate":"a=b","payload":[1],"extra":true}"#
                )
                #expect(everythingWrong.status == .unprocessableContent)
                #expect(
                    try fields(everythingWrong)
                        == ["id", "type", "occurred_at", "producer", "traceparent", "payload", "extra"])
                let missing = try await post("{}")
                #expect(missing.status == .unprocessableContent)
                #expect(try fields(missing) == ["id", "type", "occurred_at", "producer", "payload"])
                let orphanState = sampleEnvelope(traceparent: nil).jsonValue()
                guard case .object(var members) = orphanState else { return }
                members["tracestate"] = .string("a=b")
                let orphan = try await post(String(decoding: JSONValue.object(members).serialized(), as: UTF8.self))
                #expect(try fields(orphan) == ["tracestate"])
                #expect(try await post("not json").status == .badRequest)
                #expect(try await post("{}", headers: [.contentType: "text/plain"]).status == .unsupportedMediaType)
                #expect(try await consumer.effects().isEmpty)
                #expect(try await consumer.database.read { sql in try await sql.select().column("id").from("inbox_events").all() }.isEmpty)
            }
        }
    }

    @Test func onlyServiceTokensWithEventsDeliverMayPost() async throws {
        let tokens = await TestTokens.make()
        try await InboxFixture.with(.sqlite) { consumer in
            try await Application(router: consumer.router(tokens: tokens)).test(.router) { base in
                let body = sampleEnvelope().body
                let anonymous = try await base.execute(
                    uri: EventReceiver.path, method: .post, headers: eventJSONHeaders, body: body)
                #expect(anonymous.status == .unauthorized)
                let customer = BearerClient(base, token: try await tokens.token(.customer, subject: "usr_1"))
                let refused = try await customer.execute(
                    uri: EventReceiver.path, method: .post, headers: eventJSONHeaders, body: body)
                #expect(refused.status == .forbidden)
                #expect(try await consumer.effects().isEmpty)
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func pruningForgetsOldIdsOnly(_ engine: DatabaseEngine) async throws {
        try await InboxFixture.with(engine) { consumer in
            let envelope = sampleEnvelope()
            let outcome = try await consumer.inbox.receive(envelope, handler: InboxFixture.recordEffect)
            #expect(outcome == Inbox.Outcome.applied)
            let keptNone = try await consumer.inbox.prune(receivedBefore: Date().addingTimeInterval(-60))
            #expect(keptNone == 0)
            let kept = try await consumer.inbox.outcome(of: envelope.id)
            #expect(kept == Inbox.Outcome.applied)
            let pruned = try await consumer.inbox.prune(receivedBefore: Date().addingTimeInterval(60))
            #expect(pruned == 1)
            let forgotten = try await consumer.inbox.outcome(of: envelope.id)
            #expect(forgotten == nil)
        }
    }
}
