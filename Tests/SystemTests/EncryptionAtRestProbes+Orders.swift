import Foundation
import MeridianKit
import NIOHTTP1
import Testing

/// The orders and analytics probes: an order's items and address (which also go into its audit change set, its
/// `order.created` outbox payload and the reply kept under its idempotency key), its payment attempts, and an
/// analytics event's properties.
extension EncryptionAtRestTests {
    static let orderProbes: [Probe] = [
        Probe(field: "orders.items, orders.shipping_address, payment_attempts.*, outbox_events.payload") { platform, mint in
            let buyerToken = mint("buyer")
            let user = try await platform.admin.send(
                .POST, "/api/users",
                json: #"{"email": "\#(buyerToken)@example.com", "name": "Buyer", "password": "correct horse battery"}"#)
            let userID = try #require(user.json["id"] as? String)
            let sku = "SKU-\(mint("sku"))"
            let itemToken = mint("item")
            let recipientToken = mint("recipient")
            let streetToken = mint("street")
            let request = #"""
                {"user_id": "\#(userID)", "currency": "EUR",
                 "items": [{"sku": "\#(sku)", "name": "\#(itemToken) Widget", "quantity": 2, "unit_price": 1250}],
                 "shipping_address": {"name": "\#(recipientToken) Recipient", "line1": "\#(streetToken) Street 1",
                   "city": "London", "postal_code": "N1 9GU", "country": "GB"}}
                """#
            let key = [("Idempotency-Key", UUID().uuidString)]
            let created = try await platform.admin.send(.POST, "/api/orders", json: request, headers: key)
            #expect(created.status == 201)
            let orderID = try #require(created.json["id"] as? String)
            let replayed = try await platform.admin.send(.POST, "/api/orders", json: request, headers: key)
            #expect(replayed.headers.first(name: "Idempotent-Replayed") == "true")
            #expect(replayed.json["id"] as? String == orderID, "the kept reply opens again")
            let declined = try await platform.admin.send(
                .POST, "/api/orders/\(orderID)/payments", json: #"{"payment_method": "tok_chargeDeclined"}"#)
            #expect(declined.status == 402 || declined.status == 422 || declined.status == 409)
            let paid = try await platform.admin.send(
                .POST, "/api/orders/\(orderID)/payments", json: #"{"payment_method": "tok_visa"}"#)
            #expect(paid.status == 201 || paid.status == 200)
            let order = try await platform.admin.send(.GET, "/api/orders/\(orderID)")
            let items = order.json["items"] as? [[String: Any]]
            #expect(items?.first?["name"] as? String == "\(itemToken) Widget")
            #expect(items?.first?["sku"] as? String == sku)
            let address = order.json["shipping_address"] as? [String: Any]
            #expect(address?["name"] as? String == "\(recipientToken) Recipient")
            #expect(address?["line1"] as? String == "\(streetToken) Street 1")
            let attempts = try await platform.admin.send(.GET, "/api/orders/\(orderID)/payments")
            let data = attempts.json["data"] as? [[String: Any]] ?? []
            let reference = try #require(data.compactMap { $0["provider_reference"] as? String }.first)
            let declinedAttempt = data.first { $0["payment_method"] as? String == "tok_chargeDeclined" }
            #expect(declinedAttempt != nil)
            let failure = try #require(declinedAttempt?["failure_reason"] as? String)
            // The change set of the creation holds the items: the audit API gives them back.
            let audit = try await platform.admin.send(.GET, "/api/audit/orders?resource_id=\(orderID)&action=order.create")
            let changes = (audit.json["data"] as? [[String: Any]])?.first?["changes"] as? [String: Any]
            let audited = (changes?["items"] as? [[String: Any]])?.first?["name"] as? String
            #expect(audited == "\(itemToken) Widget", "the order.create change set holds the items")
            // order.created carries sku and name (`OrderEvents.payload`); the harness gives orders no service
            // credentials, so the event stays in the outbox, where the storage check finds it sealed.
            let everywhere = [
                "orders.orders.items", "orders.audit_log.details", "orders.outbox_events.payload",
                "orders.meridian_idempotency.sealed_body",
            ]
            let addressed = [
                "orders.orders.shipping_address", "orders.audit_log.details", "orders.meridian_idempotency.sealed_body",
            ]
            return [
                .text("users.email (buyer)", "\(buyerToken)@example.com", token: buyerToken,
                      in: ["users.users.email", "users.audit_log.details"]),
                .text("orders.items.sku", sku, token: sku, in: everywhere),
                .text("orders.items.name", "\(itemToken) Widget", token: itemToken, in: everywhere),
                .text("orders.shipping_address.name", "\(recipientToken) Recipient", token: recipientToken, in: addressed),
                .text("orders.shipping_address.line1", "\(streetToken) Street 1", token: streetToken, in: addressed),
                .text("payment_attempts.provider_reference", reference, token: reference,
                      in: ["orders.payment_attempts.provider_reference"]),
                // The test provider's fixed values: the only ones these two columns can hold.
                .text("payment_attempts.payment_method", "tok_chargeDeclined", token: "tok_chargeDeclined",
                      in: ["orders.payment_attempts.payment_method"]),
                .text("payment_attempts.failure_reason", failure, token: failure,
                      in: ["orders.payment_attempts.failure_reason", "orders.audit_log.details"]),
            ]
        },
        Probe(field: "analytics_events.properties") { platform, mint in
            let user = "usr_probe_\(UUID().uuidString.lowercased().prefix(12))"
            let token = mint("note")
            let sent = try await platform.admin.send(
                .POST, "/api/analytics/events",
                json: #"""
                    {"events": [{"id": "\#(UUID().uuidString)", "name": "probe", "user_id": "\#(user)",
                                 "properties": {"note": "\#(token) Note"}}]}
                    """#)
            #expect(sent.status == 200)
            #expect(sent.json["accepted"] as? Int == 1)
            let read = try await platform.admin.send(.GET, "/api/analytics/events?user_id=\(user)")
            let properties = (read.json["data"] as? [[String: Any]])?.first?["properties"] as? [String: Any]
            #expect(properties?["note"] as? String == "\(token) Note")
            return [
                .text("analytics_events.properties", "\(token) Note", token: token,
                      in: ["analytics.analytics_events.properties"])
            ]
        },
    ]
}
