import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import SQLKit
import Testing

@testable import Analytics

@Suite struct IngestionTests {
    @Test(arguments: TestDatabase.engines)
    func acceptsABatchAndStoresIt(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let response = try await harness.send([
                event(name: "signup", user: "usr_a", properties: ["plan": "pro", "camelCase": 1]),
                event(name: "signup", user: nil, anonymous: "anon_b"),
            ])
            #expect(response.status == .ok)
            let report = try object(response)
            #expect(report["accepted"] as? Int == 2)
            #expect(report["duplicates"] as? Int == 0)
            #expect((report["rejected"] as? [Any])?.isEmpty == true)
            let events = try await harness.get("/api/analytics/events?user_id=usr_a")
            let data = try #require(events["data"] as? [[String: Any]])
            #expect(data.count == 1)
            // Properties come back exactly as sent, keys untouched.
            #expect((data.first?["properties"] as? [String: Any])?["camelCase"] as? Int == 1)
            #expect(data.first?["source"] as? String == "api")
        }
    }

    /// Each bad event is reported by its index with every reason; the good ones are stored regardless.
    @Test(arguments: TestDatabase.engines)
    func rejectsInvalidEventsByIndex(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let future = Date().addingTimeInterval(3600)
            let response = try await harness.send([
                event(name: "ok"),
                ["id": "not-a-uuid", "name": "", "user_id": "u"],
                ["id": UUID().uuidString, "name": "x"],
                event(name: "x", timestamp: future),
                ["id": UUID().uuidString, "name": "x", "user_id": "u", "colour": "red"],
                event(name: "$request"),
                ["id": UUID().uuidString, "name": "x", "user_id": "u", "properties": [1, 2]],
                ["id": UUID().uuidString, "name": "x", "user_id": "u", "timestamp": "yesterday"],
            ])
            #expect(response.status == .ok)
            let report = try object(response)
            #expect(report["accepted"] as? Int == 1)
            let rejected = try #require(report["rejected"] as? [[String: Any]])
            #expect(rejected.compactMap { $0["index"] as? Int } == [1, 2, 3, 4, 5, 6, 7])
            func fields(_ index: Int) -> Set<String> {
                let errors = rejected.first { $0["index"] as? Int == index }?["errors"] as? [[String: Any]] ?? []
                return Set(errors.compactMap { $0["field"] as? String })
            }
            #expect(fields(1) == ["id", "name"])
            #expect(fields(2) == ["user_id"])
            #expect(fields(3) == ["timestamp"])
            #expect(fields(4) == ["colour"])
            #expect(fields(5) == ["name"])
            #expect(fields(6) == ["properties"])
            #expect(fields(7) == ["timestamp"])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func oversizeBatchesGet413(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let tooMany = (0...BatchLimits.maxEvents).map { _ in event() }
            let response = try await harness.send(tooMany)
            #expect(response.status == .contentTooLarge)
            #expect(response.headers[.contentType] == Problem.contentType)

            let big = String(repeating: "x", count: 20_000)
            let tooBig = (0..<30).map { _ in event(properties: ["blob": big]) }
            let bytes = try await harness.send(tooBig)
            #expect(bytes.status == .contentTooLarge)

            // Exactly the limit is fine.
            let full = try await harness.send((0..<BatchLimits.maxEvents).map { _ in event() })
            #expect(full.status == .ok)
            #expect(try object(full)["accepted"] as? Int == BatchLimits.maxEvents)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func malformedBatchesAreProblems(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            for (body, status) in [
                ("[]", HTTPResponse.Status.badRequest), ("{", .badRequest), ("{}", .unprocessableContent),
                (#"{"events": {}}"#, .unprocessableContent), (#"{"events": [], "extra": 1}"#, .unprocessableContent),
                (#"{"events": [], "sent_at": "soon"}"#, .unprocessableContent),
            ] {
                let response = try await harness.client.execute(
                    uri: "/api/analytics/events", method: .post, headers: jsonHeaders, body: ByteBuffer(string: body))
                #expect(response.status == status, "\(body)")
                #expect(response.headers[.contentType] == Problem.contentType)
            }
            let text = try await harness.client.execute(
                uri: "/api/analytics/events", method: .post, headers: [.contentType: "text/plain"],
                body: ByteBuffer(string: "{}"))
            #expect(text.status == .unsupportedMediaType)
        }
    }

    /// Duplicates by id are dropped synchronously: within a batch, and across batches (a retried batch).
    @Test(arguments: TestDatabase.engines)
    func duplicatesAreDroppedSynchronously(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let id = UUID().uuidString
            let first = try object(try await harness.send([event(id: id), event(id: id.lowercased()), event()]))
            #expect(first["accepted"] as? Int == 2)
            #expect(first["duplicates"] as? Int == 1)
            let retry = try object(try await harness.send([event(id: id)]))
            #expect(retry["accepted"] as? Int == 0)
            #expect(retry["duplicates"] as? Int == 1)
            let count = try await harness.service.database.read { sql in
                try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("analytics_events")
                    .first()!.decode(column: "n", as: Int.self)
            }
            #expect(count == 2)
            let metrics = try await harness.get("/api/analytics/metrics?event=signup&interval=day")
            let series = try #require((metrics["series"] as? [[String: Any]])?.first)
            #expect((series["total"] as? [String: Any])?["count"] as? Int == 2)
        }
    }

    /// Concurrent batches are committed in groups: an id sent in several batches of one group is stored once and
    /// accepted by exactly one of them, and the rollups count it once. The writer is held while an opening batch
    /// waits for it and twelve batches carrying the same 50 ids queue behind, so the twelve form one group.
    @Test(arguments: TestDatabase.engines)
    func concurrentBatchesSharingIdsCountEachEventOnce(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let commits = harness.service.ingestor.commits
            let shared = (0..<50).map { _ in UUID().uuidString.lowercased() }
            @Sendable func send(_ batch: [[String: Any]]) async throws -> (accepted: Int, duplicates: Int) {
                let report = try object(try await harness.send(batch))
                #expect((report["rejected"] as? [Any])?.isEmpty == true)
                return (report["accepted"] as? Int ?? -1, report["duplicates"] as? Int ?? -1)
            }
            let (opener, senders) = try await harness.service.database.transaction { sql in
                // SQLite: this transaction is the single writer. PostgreSQL: the lock blocks the events' inserts.
                if engine == .postgres { try await sql.raw("LOCK TABLE analytics_events IN EXCLUSIVE MODE").run() }
                let opener = Task { try await send([event(name: "concurrent")]) }
                try await waitUntil(timeout: .seconds(20)) { commits.submitted == 1 && commits.queued == 0 }
                let senders = (0..<12).map { _ in
                    let batch = (0..<40).map { _ in event(name: "concurrent") } + shared.map { event(id: $0, name: "concurrent") }
                    return Task { try await send(batch.shuffled()) }
                }
                try await waitUntil(timeout: .seconds(20)) { commits.submitted == 13 }
                return (opener, senders)
            }
            #expect(commits.submitted == 13)
            #expect(try await opener.value == (1, 0))
            var outcomes: [(accepted: Int, duplicates: Int)] = []
            for sender in senders { outcomes.append(try await sender.value) }
            let answeredWhole = outcomes.allSatisfy { $0.accepted + $0.duplicates == 90 && $0.accepted >= 40 }
            #expect(answeredWhole)
            let accepted = outcomes.map(\.accepted).reduce(0, +)
            #expect(accepted == 12 * 40 + 50)
            let count = try await harness.service.database.read { sql in
                try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("analytics_events")
                    .first()!.decode(column: "n", as: Int.self)
            }
            #expect(count == 1 + 12 * 40 + 50)
            let metrics = try await harness.get("/api/analytics/metrics?event=concurrent&interval=day")
            let series = try #require((metrics["series"] as? [[String: Any]])?.first)
            #expect((series["total"] as? [String: Any])?["count"] as? Int == 1 + 12 * 40 + 50)
        }
    }

    /// The ingestion counters: stored, duplicate and rejected events of a batch, by source, each series at 0
    /// from start-up.
    @Test(arguments: TestDatabase.engines)
    func ingestionIsCountedBySourceAndResult(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            func exposition() async throws -> String {
                String(buffer: try await harness.client.execute(uri: "/metrics", method: .get).body)
            }
            let before = try await exposition()
            #expect(before.contains(#"analytics_events_received_total{source="segment",result="rejected"} 0"#))
            #expect(before.contains(#"analytics_events_received_total{source="usage",result="accepted"} 0"#))
            let id = UUID().uuidString
            let response = try await harness.send([event(id: id), event(id: id), ["id": "not-a-uuid", "name": ""]])
            #expect(response.status == .ok)
            let after = try await exposition()
            #expect(after.contains(#"analytics_events_received_total{source="api",result="accepted"} 1"#))
            #expect(after.contains(#"analytics_events_received_total{source="api",result="duplicate"} 1"#))
            #expect(after.contains(#"analytics_events_received_total{source="api",result="rejected"} 1"#))
        }
    }

    /// `sent_at` corrects the client's clock: an event stamped by a client an hour behind lands an hour later.
    @Test(arguments: TestDatabase.engines)
    func sentAtCorrectsClockSkew(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let now = Date()
            let clientNow = now.addingTimeInterval(-3600)
            let response = try await harness.send(
                [event(user: "usr_skew", timestamp: clientNow.addingTimeInterval(-120))],
                sentAt: Timestamp.format(clientNow))
            #expect(try object(response)["accepted"] as? Int == 1)
            let events = try await harness.get("/api/analytics/events?user_id=usr_skew")
            let stamp = try #require((events["data"] as? [[String: Any]])?.first?["timestamp"] as? String)
            let stored = try #require(Timestamp.parse(stamp))
            // Two minutes before receipt, give or take the request's own duration.
            #expect(abs(stored.timeIntervalSince(now.addingTimeInterval(-120))) < 5)
        }
    }

    /// Properties are stored as ciphertext bound to their row: the plaintext appears nowhere in the column, and
    /// moving a ciphertext to another event does not open.
    @Test(arguments: TestDatabase.engines)
    func propertiesAreEncryptedAtRest(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let marker = "secret-marker-\(UUID().uuidString)"
            _ = try await harness.send([event(user: "usr_enc", properties: ["email": marker])])
            let stored = try await harness.service.database.read { sql in
                try await sql.select().columns("event_id", "properties").from("analytics_events").first()!
            }
            let sealed = try stored.decode(column: "properties", as: Data.self)
            #expect(!String(decoding: sealed, as: UTF8.self).contains(marker))
            #expect(sealed.range(of: Data(marker.utf8)) == nil)
            let sealer = PropertySealer(cipher: harness.service.cipher)
            let id = try stored.decode(column: "event_id", as: String.self)
            #expect(try sealer.open(sealed, eventID: id) == .object(["email": .string(marker)]))
            #expect(throws: (any Error).self) { try sealer.open(sealed, eventID: UUID().uuidString.lowercased()) }
        }
    }
}
