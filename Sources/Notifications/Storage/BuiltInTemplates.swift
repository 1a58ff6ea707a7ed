import Foundation
import MeridianKit
import SQLKit

/// The templates the service ships: the messages order events send. The migration seeds a row for each
/// (without content: the text lives here until someone edits it through the API).
enum BuiltInTemplates {
    struct Shipped: Sendable {
        var category: String
        var template: MessageTemplate
    }

    static let orderVariables = ["order_id", "status", "total", "items"]

    static let itemsText = "{{#items}}- {{quantity}} x {{name}} ({{unit_price}})\n{{/items}}"
    static let itemsHTML = "<ul>{{#items}}<li>{{quantity}} &times; {{name}} ({{unit_price}})</li>{{/items}}</ul>"

    static let all: [String: Shipped] = [
        "order-created": Shipped(
            category: Category.orders,
            template: MessageTemplate(
                subject: "We received your order {{order_id}}",
                text: "Thank you for your order {{order_id}}.\n\n\(itemsText)\nTotal: {{total}}\n",
                html: "<p>Thank you for your order <strong>{{order_id}}</strong>.</p>\(itemsHTML)<p>Total: {{total}}</p>",
                variables: orderVariables)),
        "order-paid": Shipped(
            category: Category.receipts,
            template: MessageTemplate(
                subject: "Receipt for your order {{order_id}}",
                text: "We received your payment of {{total}} for order {{order_id}}.\n\n\(itemsText)\nTotal paid: {{total}}\n",
                html: "<p>We received your payment of <strong>{{total}}</strong> for order {{order_id}}.</p>"
                    + "\(itemsHTML)<p>Total paid: {{total}}</p>",
                variables: orderVariables)),
        "order-cancelled": Shipped(
            category: Category.orders,
            template: MessageTemplate(
                subject: "Your order {{order_id}} was cancelled",
                text: "Your order {{order_id}} was cancelled. Nothing was charged.\n",
                html: "<p>Your order <strong>{{order_id}}</strong> was cancelled. Nothing was charged.</p>",
                variables: orderVariables)),
        "order-refunded": Shipped(
            category: Category.receipts,
            template: MessageTemplate(
                subject: "Refund for your order {{order_id}}",
                text: "We refunded {{total}} for your order {{order_id}}.\n",
                html: "<p>We refunded <strong>{{total}}</strong> for your order {{order_id}}.</p>",
                variables: orderVariables)),
    ]

    /// The template an order event sends.
    static func templateID(forEvent type: String) -> String? {
        switch type {
        case "order.created": "order-created"
        case "order.paid": "order-paid"
        case "order.cancelled": "order-cancelled"
        case "order.refunded": "order-refunded"
        default: nil
        }
    }

    static let migration = Migration("seed_built_in_templates") { sql, _ in
        let now = Timestamp.micros(Date())
        for (id, shipped) in all.sorted(by: { $0.key < $1.key }) {
            try await sql.insert(into: "notification_templates")
                .columns("id", "category", "content", "built_in", "version", "created_at", "updated_at")
                .values(
                    SQLBind(id), SQLBind(shipped.category), SQLLiteral.null, SQLBind(Int64(1)), SQLBind(Int64(1)),
                    SQLBind(now), SQLBind(now)
                ).run()
        }
    }
}
