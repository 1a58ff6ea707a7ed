import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Notifications

/// `POST /api/notifications` with an `Idempotency-Key`: a sender retrying after a lost answer must not message
/// the recipient twice.
@Suite struct NotificationIdempotencyTests {
    typealias H = NotificationHarness

    @Test(arguments: TestDatabase.engines)
    func aRepeatedKeyReplaysTheFirstAnswerAndSendsOnce(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let admin = try await h.token(.admin)
        let alice = Identifier.make(prefix: "usr")
        let body = NotificationRoutesTests.send(to: alice, channels: #"["email","in_app"]"#)
        let key: HTTPFields = [.idempotencyKey: "notify-\(alice)"]
        try await h.service.makeApplication().test(.router) { client in
            func sentToAlice() async throws -> [[String: Any]] {
                let listed = try H.json(try await client.call(.get, "/api/notifications?user_id=\(alice)", token: admin))
                return listed["data"] as? [[String: Any]] ?? []
            }
            let first = try await client.call(.post, "/api/notifications", token: admin, body: body, headers: key)
            #expect(first.status == .accepted)
            #expect(first.headers[.idempotentReplayed] == nil)
            let id = try #require(((try H.json(first)["data"] as? [[String: Any]])?.first)?["id"] as? String)

            let replay = try await client.call(.post, "/api/notifications", token: admin, body: body, headers: key)
            #expect(replay.status == .accepted)
            #expect(replay.headers[.idempotentReplayed] == "true")
            #expect(replay.headers[.contentType] == first.headers[.contentType])
            #expect(replay.body == first.body)
            #expect(try await sentToAlice().compactMap { $0["id"] as? String } == [id])

            // Another body under the same key is refused, and sends nothing.
            let changed = body.replacingOccurrences(of: #""subject":"Hello""#, with: #""subject":"Hello again""#)
            #expect(changed != body)
            let refused = try await client.call(.post, "/api/notifications", token: admin, body: changed, headers: key)
            #expect(refused.status == .unprocessableContent)
            #expect(refused.headers[.contentType] == Problem.contentType)
            #expect(try H.json(refused)["type"] as? String == Problem.typeBase + "idempotency-key-reused")
            #expect(try await sentToAlice().compactMap { $0["id"] as? String } == [id])

            // One notification, one audit record of the send, one email queued.
            let sends = try await AuditTrail.records(client, token: admin, action: "notification.send")
            #expect(sends.compactMap(AuditTrail.resourceID) == [id])
            #expect(try await h.service.worker.runOnce() == 1)
            #expect(try await h.service.worker.runOnce() == 0)

            // A new key is a new notification.
            let fresh = try await client.call(
                .post, "/api/notifications", token: admin, body: body, headers: [.idempotencyKey: "notify-again"])
            #expect(fresh.status == .accepted)
            #expect(try await sentToAlice().count == 2)
        }
    }
}
