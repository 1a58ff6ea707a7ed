import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import Testing

@testable import Analytics

@Suite struct DomainEventTests {
    static func envelope(id: String = Identifier.make(prefix: EventEnvelope.idPrefix), type: String, payload: [String: Any]) -> [String: Any] {
        [
            "id": id, "type": type, "occurred_at": Timestamp.format(Date()), "producer": "orders",
            "traceparent": NSNull(), "tracestate": NSNull(), "payload": payload,
        ]
    }

    /// Orders' and users' events become product events of their user, exactly once however often delivered.
    @Test(arguments: TestDatabase.engines)
    func domainEventsBecomeProductEventsOnce(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let deliverer = try await harness.client(as: .service, subject: "cli_orders")
            let paid = Self.envelope(type: "order.paid", payload: [
                "order_id": "ord_1", "user_id": "usr_buyer", "status": "paid",
                "total": ["amount_minor": 2500, "currency": "EUR"],
                "items": [["sku": "A", "name": "Widget", "quantity": 1, "unit_price_minor": 2500]],
                "occurred_at": Timestamp.format(Date()),
            ])
            for _ in 0..<2 {
                let response = try await deliverer.execute(
                    uri: "/internal/events", method: .post, headers: jsonHeaders, body: try jsonBody(paid))
                #expect(response.status == .ok)
            }
            let created = Self.envelope(type: "user.created", payload: ["user_id": "usr_buyer"])
            let response = try await deliverer.execute(
                uri: "/internal/events", method: .post, headers: jsonHeaders, body: try jsonBody(created))
            #expect(response.status == .ok)
            let ignored = Self.envelope(type: "invoice.sent", payload: ["user_id": "usr_buyer"])
            let other = try await deliverer.execute(
                uri: "/internal/events", method: .post, headers: jsonHeaders, body: try jsonBody(ignored))
            #expect(try object(other)["outcome"] as? String == "ignored")

            let events = try await harness.get("/api/analytics/events?user_id=usr_buyer")
            let data = try #require(events["data"] as? [[String: Any]])
            #expect(data.compactMap { $0["name"] as? String }.sorted() == ["order.paid", "user.created"])
            let order = try #require(data.first { $0["name"] as? String == "order.paid" })
            let properties = try #require(order["properties"] as? [String: Any])
            #expect(properties["item_count"] as? Int == 1)
            // Free-text item names are not copied into analytics.
            #expect(!String(describing: properties).contains("Widget"))
            let metrics = try await harness.get("/api/analytics/metrics?event=order.paid&interval=day")
            #expect(((metrics["series"] as? [[String: Any]])?.first?["total"] as? [String: Any])?["count"] as? Int == 1)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func onlyServiceClientsDeliver(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let body = try jsonBody(Self.envelope(type: "user.created", payload: ["user_id": "usr_1"]))
            let customer = try await harness.client(as: .customer)
            let refused = try await customer.execute(uri: "/internal/events", method: .post, headers: jsonHeaders, body: body)
            #expect(refused.status == .forbidden)
            let malformed = try await harness.client(as: .service).execute(
                uri: "/internal/events", method: .post, headers: jsonHeaders,
                body: try jsonBody(Self.envelope(type: "user.created", payload: ["nobody": 1])))
            #expect(malformed.status == .unprocessableContent)
        }
    }
}
