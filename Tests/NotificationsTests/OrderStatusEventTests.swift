import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Notifications

/// `order.cancelled` and `order.refunded`: the customer gets the event's built-in status message through their
/// preferred channels, once, however often (and however concurrently) the event is delivered.
@Suite struct OrderStatusEventTests {
    typealias H = NotificationHarness

    struct Expected: Sendable, CustomTestStringConvertible {
        var type: String
        var subject: String
        var text: String
        var category: String
        /// The customer opted out of `orders` email: a status message respects that, a receipt (critical) does not.
        var channels: Set<String>

        var testDescription: String { type }
    }

    static let cases = [
        Expected(
            type: "order.cancelled", subject: "Your order ord_42 was cancelled",
            text: "Your order ord_42 was cancelled. Nothing was charged.\n", category: "orders",
            channels: ["in_app", "push"]),
        Expected(
            type: "order.refunded", subject: "Refund for your order ord_42",
            text: "We refunded 19.99 EUR for your order ord_42.\n", category: "receipts",
            channels: ["email", "in_app", "push"]),
    ]

    static func envelope(id: String, type: String, user: String) -> String {
        let status = type == "order.cancelled" ? "cancelled" : "refunded"
        return #"{"id":"\#(id)","type":"\#(type)","occurred_at":"2026-01-01T00:00:00.000Z","producer":"orders","traceparent":null,"tracestate":null,"payload":{"order_id":"ord_42","user_id":"\#(user)","status":"\#(status)","total":{"amount_minor":1999,"currency":"EUR"},"items":[{"sku":"A","name":"Tea","quantity":1,"unit_price_minor":1999}],"occurred_at":"2026-01-01T00:00:00.000Z"}}"#
    }

    @Test(arguments: TestDatabase.engines, cases)
    func anOrderStatusEventSendsItsMessageOnce(_ engine: DatabaseEngine, _ expected: Expected) async throws {
        let h = try await H(engine)
        let pushService = LoopbackPushService()
        let serviceToken = try await h.tokens.token(.service, subject: "orders")
        let alice = Identifier.make(prefix: "usr")
        let aliceToken = try await h.token(.customer, alice)
        let admin = try await h.token(.admin)
        let envelope = Self.envelope(id: Identifier.make(prefix: "evt"), type: expected.type, user: alice)
        try await pushService.application().test(.live) { push in
            let port = try #require(push.port)
            try await h.service.makeApplication().test(.router) { client in
                let (browser, auth, _) = try await DeliveryTests.subscribe(client, token: aliceToken, port: port, path: "a")
                let optOut = #"{"preferences":[{"category":"orders","channel":"email","enabled":false}]}"#
                #expect(try await client.call(.put, "/api/notification-preferences/\(alice)", token: aliceToken, body: optOut).status == .ok)

                // Delivered twice at once and once more later: applied once.
                async let one = client.call(.post, "/internal/events", token: serviceToken, body: envelope)
                async let two = client.call(.post, "/internal/events", token: serviceToken, body: envelope)
                let answers = try await [one, two]
                #expect(answers.map(\.status) == [.ok, .ok])
                #expect(try answers.map { try H.json($0)["outcome"] as? String }.compactMap { $0 }.sorted() == ["applied", "duplicate"])
                let again = try await client.call(.post, "/internal/events", token: serviceToken, body: envelope)
                #expect(try H.json(again)["outcome"] as? String == "duplicate")
                while try await h.service.worker.runOnce() > 0 {}

                let all = try H.json(try await client.call(.get, "/api/notifications?user_id=\(alice)", token: admin))
                let notifications = try #require(all["data"] as? [[String: Any]])
                #expect(notifications.count == 1)
                let notification = try #require(notifications.first)
                #expect(notification["subject"] as? String == expected.subject)
                #expect(notification["text"] as? String == expected.text)
                #expect(notification["category"] as? String == expected.category)
                #expect(notification["template_id"] as? String == BuiltInTemplates.templateID(forEvent: expected.type))
                let deliveries = try #require(notification["deliveries"] as? [[String: Any]])
                let channels = deliveries.compactMap { $0["channel"] as? String }
                #expect(channels.count == expected.channels.count)
                #expect(Set(channels) == expected.channels)

                let inbox = try H.json(try await client.call(.get, "/api/notifications", token: aliceToken))
                #expect((inbox["data"] as? [[String: Any]])?.compactMap { $0["subject"] as? String } == [expected.subject])
                #expect(pushService.received.count == 1)
                let received = try #require(pushService.received.first)
                let plain = try WebPushReceiver.decrypt(received.body, uaPrivate: browser, authSecret: auth)
                let payload = try #require(try JSONSerialization.jsonObject(with: plain) as? [String: Any])
                #expect(payload["title"] as? String == expected.subject)
                #expect(payload["id"] as? String == notification["id"] as? String)
            }
        }
    }
}
