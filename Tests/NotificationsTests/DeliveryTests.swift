import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Notifications

@Suite struct DeliveryTests {
    typealias H = NotificationHarness

    /// Subscribes a fresh browser key pair to the loopback push service; returns its private key and auth secret.
    static func subscribe(
        _ client: some TestClientProtocol, token: String, port: Int, path: String
    ) async throws -> (P256.KeyAgreement.PrivateKey, Data, String) {
        let browser = P256.KeyAgreement.PrivateKey()
        let auth = Data((0..<16).map { _ in UInt8.random(in: 0...255) })
        let body = #"{"endpoint":"http://127.0.0.1:\#(port)/push/\#(path)","keys":{"p256dh":"\#(browser.publicKey.x963Representation.base64URLEncoded)","auth":"\#(auth.base64URLEncoded)"}}"#
        let created = try await client.call(.post, "/api/push-subscriptions", token: token, body: body)
        #expect(created.status == .created)
        return (browser, auth, try H.json(created)["id"] as? String ?? "")
    }

    @Test(arguments: TestDatabase.engines)
    func pushIsEncryptedAuthorisedAndFollowsTheServicesAnswers(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine, retry: RetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(10), maxAttempts: 5))
        let pushService = LoopbackPushService()
        let alice = Identifier.make(prefix: "usr")
        let aliceToken = try await h.token(.customer, alice)
        let admin = try await h.token(.admin)
        try await pushService.application().test(.live) { push in
            let port = try #require(push.port)
            try await h.service.makeApplication().test(.router) { client in
                let (browser, auth, subscriptionID) = try await Self.subscribe(client, token: aliceToken, port: port, path: "a")
                // The same endpoint again is the same subscription.
                let again = #"{"endpoint":"http://127.0.0.1:\#(port)/push/a","keys":{"p256dh":"\#(browser.publicKey.x963Representation.base64URLEncoded)","auth":"\#(auth.base64URLEncoded)"}}"#
                #expect(try await client.call(.post, "/api/push-subscriptions", token: aliceToken, body: again).status == .ok)

                // 201: sent, and the browser can read it.
                let sent = try await client.call(.post, "/api/notifications", token: admin,
                    body: #"{"recipients":[{"user_id":"\#(alice)"}],"channels":["push"],"category":"news","subject":"Title","text":"Body"}"#)
                let id = try #require(((try H.json(sent)["data"] as? [[String: Any]])?.first)?["id"] as? String)
                let worker = h.service.worker
                #expect(try await worker.runOnce() == 1)
                let received = try #require(pushService.received.last)
                #expect(received.headers[HTTPField.Name("Content-Encoding")!] == "aes128gcm")
                #expect(received.headers[HTTPField.Name("TTL")!] != nil)
                #expect(received.headers[HTTPField.Name("Urgency")!] == "normal")
                #expect(received.headers[HTTPField.Name("Topic")!] != nil)
                let claims = try WebPushReceiver.verifyVAPID(try #require(received.headers[.authorization]))
                #expect(claims["aud"] as? String == "http://127.0.0.1:\(port)")
                let plain = try WebPushReceiver.decrypt(received.body, uaPrivate: browser, authSecret: auth)
                let payload = try #require(try JSONSerialization.jsonObject(with: plain) as? [String: Any])
                #expect(payload["title"] as? String == "Title")
                #expect(payload["id"] as? String == id)
                let shown = try H.json(try await client.call(.get, "/api/notifications/\(id)", token: admin))
                let delivery = try #require((shown["deliveries"] as? [[String: Any]])?.first)
                #expect(delivery["status"] as? String == "sent")
                #expect((delivery["attempts"] as? [[String: Any]])?.first?["provider_status"] as? Int == 201)

                // 429 with Retry-After: failed, not before the provider's delay; then 410: dead and unsubscribed.
                pushService.script([(429, "120"), (410, nil)])
                let second = try await client.call(.post, "/api/notifications", token: admin,
                    body: #"{"recipients":[{"user_id":"\#(alice)"}],"channels":["push"],"category":"news","subject":"T2","text":"B2"}"#)
                let secondID = try #require(((try H.json(second)["data"] as? [[String: Any]])?.first)?["id"] as? String)
                let before = Date()
                #expect(try await worker.runOnce(now: before) == 1)
                var detail = try H.json(try await client.call(.get, "/api/notifications/\(secondID)", token: admin))
                var state = try #require((detail["deliveries"] as? [[String: Any]])?.first)
                #expect(state["status"] as? String == "failed")
                let nextText = try #require(state["next_attempt_at"] as? String)
                let next = try #require(Timestamp.parse(nextText))
                #expect(next.timeIntervalSince(before) >= 119)
                #expect(try await worker.runOnce(now: before.addingTimeInterval(60)) == 0)
                #expect(try await worker.runOnce(now: before.addingTimeInterval(125)) == 1)
                detail = try H.json(try await client.call(.get, "/api/notifications/\(secondID)", token: admin))
                state = try #require((detail["deliveries"] as? [[String: Any]])?.first)
                #expect(state["status"] as? String == "dead")
                #expect((state["attempts"] as? [[String: Any]])?.compactMap { $0["provider_status"] as? Int } == [429, 410])
                let remaining = try H.json(try await client.call(.get, "/api/push-subscriptions", token: aliceToken))
                #expect((remaining["data"] as? [[String: Any]])?.contains { $0["id"] as? String == subscriptionID } == false)
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aClaimIsLeasedAndTakenOverWhenItsWorkerDies(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let admin = try await h.token(.admin)
        let user = Identifier.make(prefix: "usr")
        try await h.service.makeApplication().test(.router) { client in
            _ = try await client.call(.post, "/api/notifications", token: admin, body: NotificationRoutesTests.send(to: user, channels: #"["email"]"#))
            let queue = h.service.queue
            let now = Date()
            let first = try await queue.claim(limit: 10, now: now)
            #expect(first.count == 1)
            // Held: nobody else gets it while the lease runs.
            #expect(try await queue.claim(limit: 10, now: now.addingTimeInterval(30)).isEmpty)
            // The worker died: after the lease another claims it, and the dead worker's late result is refused.
            let second = try await queue.claim(limit: 10, now: now.addingTimeInterval(61))
            #expect(second.map(\.delivery.id) == first.map(\.delivery.id))
            #expect(second.first?.delivery.attempts == 2)
            let stale = try #require(first.first)
            await #expect(throws: DeliveryQueue.LeaseLost.self) {
                try await queue.complete(stale, result: .sent("250"), startedAt: now, finishedAt: now, policy: RetryPolicy())
            }
            let status = try await queue.complete(
                try #require(second.first), result: .sent("250 ok"), startedAt: now, finishedAt: now, policy: RetryPolicy())
            #expect(status == .sent)
        }
    }

    /// Without SMTP settings an email delivery fails saying so, becomes a dead letter, and can be re-sent.
    @Test(arguments: TestDatabase.engines)
    func deadLettersAreListedAndReSent(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let admin = try await h.token(.admin)
        let user = Identifier.make(prefix: "usr")
        try await h.service.makeApplication().test(.router) { client in
            let sent = try await client.call(.post, "/api/notifications", token: admin, body: NotificationRoutesTests.send(to: user, channels: #"["email"]"#))
            let id = try #require(((try H.json(sent)["data"] as? [[String: Any]])?.first)?["id"] as? String)
            #expect(try await client.call(.post, "/api/notifications/\(id)/retry", token: admin).status == .conflict)
            #expect(try await h.service.worker.runOnce() == 1)
            let dead = try H.json(try await client.call(.get, "/api/notifications/dead-letters", token: admin))
            #expect((dead["data"] as? [[String: Any]])?.first?["notification_id"] as? String == id)
            let detail = try H.json(try await client.call(.get, "/api/notifications/\(id)", token: admin))
            let attempt = ((detail["deliveries"] as? [[String: Any]])?.first?["attempts"] as? [[String: Any]])?.first
            #expect((attempt?["answer"] as? String)?.contains("not configured") == true)
            let retried = try await client.call(.post, "/api/notifications/\(id)/retry", token: admin)
            #expect(retried.status == .accepted)
            #expect(((try H.json(retried)["deliveries"] as? [[String: Any]])?.first?["status"]) as? String == "queued")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func orderEventsSendAReceiptExactlyOnce(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let serviceToken = try await h.tokens.token(.service, subject: "orders")
        let user = Identifier.make(prefix: "usr")
        let customer = try await h.token(.customer, user)
        let envelope = #"{"id":"evt_01J00000000000000000000001","type":"order.paid","occurred_at":"2026-01-01T00:00:00.000Z","producer":"orders","traceparent":null,"tracestate":null,"payload":{"order_id":"ord_1","user_id":"\#(user)","status":"paid","total":{"amount_minor":1999,"currency":"EUR"},"items":[{"sku":"A","name":"Tea","quantity":1,"unit_price_minor":1999}],"occurred_at":"2026-01-01T00:00:00.000Z"}}"#
        try await h.service.makeApplication().test(.router) { client in
            let first = try await client.call(.post, "/internal/events", token: serviceToken, body: envelope)
            #expect(first.status == .ok)
            #expect(try H.json(first)["outcome"] as? String == "applied")
            let repeatAnswer = try await client.call(.post, "/internal/events", token: serviceToken, body: envelope)
            #expect(try H.json(repeatAnswer)["outcome"] as? String == "duplicate")
            let inbox = try H.json(try await client.call(.get, "/api/notifications", token: customer))
            let items = try #require(inbox["data"] as? [[String: Any]])
            #expect(items.count == 1)
            #expect(items.first?["subject"] as? String == "Receipt for your order ord_1")
            #expect((items.first?["text"] as? String)?.contains("19.99 EUR") == true)
            #expect(items.first?["category"] as? String == "receipts")
            #expect(try await client.call(.post, "/internal/events", token: customer, body: envelope).status == .forbidden)
        }
    }
}
