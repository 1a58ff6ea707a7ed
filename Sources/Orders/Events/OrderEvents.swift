import Foundation
import MeridianKit
import SQLKit

/// The events the orders service publishes (docs/events.md): written to its outbox in the transaction that
/// makes the change, so an event exists exactly when its change was committed.
public struct OrderEvents: Sendable {
    let outbox: Outbox

    public init(outbox: Outbox) {
        self.outbox = outbox
    }

    /// The event a status change publishes, if it publishes one.
    static func type(for status: OrderStatus) -> String? {
        switch status {
        case .pending: EventType.orderCreated
        case .paid: EventType.orderPaid
        case .cancelled: EventType.orderCancelled
        case .refunded: EventType.orderRefunded
        case .fulfilled, .completed: nil
        }
    }

    /// Writes `order.created` for a new order, in the caller's transaction.
    func created(_ order: Order, on sql: any SQLDatabase) async throws {
        try await publish(EventType.orderCreated, order, on: sql)
    }

    /// Writes the event of a status change (`order.paid`, `order.cancelled`, `order.refunded`), if the status
    /// changed and the new one publishes one.
    func statusChanged(from previous: OrderStatus, to order: Order, on sql: any SQLDatabase) async throws {
        guard previous != order.status, order.status != .pending, let type = OrderEvents.type(for: order.status)
        else { return }
        try await publish(type, order, on: sql)
    }

    private func publish(_ type: String, _ order: Order, on sql: any SQLDatabase) async throws {
        let occurredAt = order.updatedAt
        try await outbox.enqueue(
            type: type, payload: OrderEvents.payload(of: order, occurredAt: occurredAt), occurredAt: occurredAt,
            on: sql)
    }

    /// `{order_id, user_id, status, total: {amount_minor, currency}, items: [{sku, name, quantity,
    /// unit_price_minor}], occurred_at}`. No shipping address: consumers that need more ask orders.
    static func payload(of order: Order, occurredAt: Date) -> JSONValue {
        .object([
            "order_id": .string(order.id),
            "user_id": .string(order.userID),
            "status": .string(order.status.rawValue),
            "total": .object([
                "amount_minor": .integer(order.total.minorUnits), "currency": .string(order.currency.code),
            ]),
            "items": .array(
                order.items.map { item in
                    .object([
                        "sku": .string(item.sku), "name": .string(item.name), "quantity": .integer(item.quantity),
                        "unit_price_minor": .integer(item.unitPrice),
                    ])
                }),
            "occurred_at": .string(Timestamp.format(occurredAt)),
        ])
    }
}
