import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import SQLKit
import Testing

@testable import Orders

/// The orders service's events: one per transition, written with the change, with the contract's payload.
@Suite struct OrderEventTests {
    /// The events in the service's outbox, oldest first, with their payloads opened.
    func events(_ harness: OrdersHarness) async throws -> [EventEnvelope] {
        let service = harness.service
        let ids = try await service.database.read { sql in
            try await sql.select().column("id").from("outbox_events").orderBy("id").all()
                .map { try $0.decode(column: "id", as: String.self) }
        }
        let stored = try await OutboxStore(database: service.database).events(ids: ids)
        return try ids.map { id in
            let event = try #require(stored[id])
            let payload = try JSONValue.parse(
                try service.cipher.openBytes(event.sealedPayload, table: "outbox_events", column: "payload", rowID: id))
            return EventEnvelope(
                id: id, type: event.type, occurredAt: event.occurredAt, producer: OrdersService.name,
                traceparent: event.traceparent, tracestate: event.tracestate, payload: payload)
        }
    }

    func member(_ value: JSONValue, _ name: String) -> JSONValue? {
        guard case .object(let members) = value else { return nil }
        return members[name]
    }

    @Test(arguments: TestDatabase.engines)
    func placingPayingAndRefundingPublishEachEventWithTheContractPayload(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { harness in
            let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let created = try await harness.client.createOrder(
                orderBody(userID: harness.userID, items: [item(sku: "SKU-9", name: "Lamp", quantity: 3, unitPrice: 1999)]),
                headers: [HTTPField.Name("traceparent")!: traceparent])
            #expect(created.status == .created)
            let orderID = try #require(try object(created)["id"] as? String)
            #expect(try await harness.client.pay(orderID).status == .created)
            #expect(try await harness.client.delete(orderID).status == .ok)
            let events = try await events(harness)
            #expect(events.map(\.type) == [EventType.orderCreated, EventType.orderPaid, EventType.orderRefunded])
            #expect(events.map { member($0.payload, "status") } == [.string("pending"), .string("paid"), .string("refunded")])
            let first = try #require(events.first)
            #expect(
                first.payload
                    == .object([
                        "order_id": .string(orderID), "user_id": .string(harness.userID), "status": .string("pending"),
                        "total": .object(["amount_minor": .integer(5997), "currency": .string("EUR")]),
                        "items": .array([
                            .object([
                                "sku": .string("SKU-9"), "name": .string("Lamp"), "quantity": .integer(3),
                                "unit_price_minor": .integer(1999),
                            ])
                        ]),
                        "occurred_at": .string(Timestamp.format(first.occurredAt)),
                    ]))
            // The request's trace context travels with the event it caused, and only with that one.
            #expect(first.traceparent == traceparent)
            #expect(events.dropFirst().allSatisfy { $0.traceparent == nil })
            // Each event waits for both subscribers.
            let deliveries = try await OutboxStore(database: harness.service.database).deliveries()
            #expect(deliveries.count == 6)
            #expect(Set(deliveries.map(\.subscriber)) == ["analytics", "notifications"])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func cancellingPublishesOrderCancelled(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { harness in
            let orderID = try await harness.client.placedOrderID(userID: harness.userID)
            #expect(try await harness.client.delete(orderID).status == .ok)
            let events = try await events(harness)
            #expect(events.map(\.type) == [EventType.orderCreated, EventType.orderCancelled])
            #expect(member(events[1].payload, "order_id") == .string(orderID))
            #expect(member(events[1].payload, "status") == .string("cancelled"))
        }
    }

    @Test(arguments: TestDatabase.engines)
    func changesThatFailOrMoveNoStatusPublishNothing(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { harness in
            let orderID = try await harness.client.placedOrderID(userID: harness.userID)
            // A declined card changes nothing, so it publishes nothing.
            #expect(try await harness.client.pay(orderID, method: TestPaymentProvider.declinedMethod).status.code == 402)
            // An edit of the items is a change, but not a transition.
            let edited = try await harness.client.put(orderID, ["items": [item(quantity: 5)]])
            #expect(edited.status == .ok)
            // A refused request (bad body) writes nothing at all.
            #expect(try await harness.client.createOrder(["user_id": harness.userID]).status == .unprocessableContent)
            #expect(try await events(harness).map(\.type) == [EventType.orderCreated])
        }
    }
}
