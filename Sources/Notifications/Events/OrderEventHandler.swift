import Foundation
import MeridianKit
import SQLKit

/// Applies order events from the inbox: each sends the customer a receipt or a status message through their
/// preferred channels with the event's built-in template. Runs inside the inbox's transaction, so the
/// notification exists exactly when the event is recorded as applied.
struct OrderEventHandler: Sendable {
    let templates: TemplateStore
    let composer: NotificationComposer

    func apply(_ envelope: EventEnvelope, on sql: any SQLDatabase) async throws {
        guard let templateID = BuiltInTemplates.templateID(forEvent: envelope.type) else {
            throw UnhandledEventType(envelope.type)
        }
        let order = try OrderPayload(envelope.payload)
        guard let stored = try await templates.template(id: templateID, on: sql) else {
            throw StoredDataInconsistent(detail: "the built-in template \(templateID) is missing")
        }
        let content = try stored.template.render(order.templateData)
        _ = try await composer.compose(
            .init(
                recipients: [.user(order.userID)], channels: nil, category: stored.category, templateID: templateID,
                content: content, sender: "event:\(envelope.type)", sourceEventID: envelope.id),
            actor: .system(NotificationsService.name), now: Date(), on: sql)
    }
}

/// The order event payload (docs/events.md: `{order_id, user_id, status, total: {amount_minor, currency}, items}`).
struct OrderPayload: Sendable {
    var orderID: String
    var userID: String
    var status: String
    var total: String
    var items: [JSONValue]

    init(_ payload: JSONValue) throws {
        guard case .object(let members) = payload,
            case .string(let orderID)? = members["order_id"], case .string(let userID)? = members["user_id"],
            case .string(let status)? = members["status"], case .object(let total)? = members["total"],
            case .integer(let amount)? = total["amount_minor"], case .string(let currency)? = total["currency"]
        else {
            throw Problem.validation([FieldError(field: "payload", message: "is not an order event payload")])
        }
        self.orderID = orderID
        self.userID = userID
        self.status = status
        self.total = Self.money(amount, currency)
        var items: [JSONValue] = []
        if case .array(let elements)? = members["items"] {
            for element in elements {
                guard case .object(let item) = element else { continue }
                var line: [String: JSONValue] = [:]
                line["name"] = item["name"] ?? .string("")
                line["sku"] = item["sku"] ?? .string("")
                line["quantity"] = item["quantity"] ?? .integer(0)
                if case .integer(let unit)? = item["unit_price_minor"] { line["unit_price"] = .string(Self.money(unit, currency)) }
                items.append(.object(line))
            }
        }
        self.items = items
    }

    var templateData: [String: JSONValue] {
        ["order_id": .string(orderID), "status": .string(status), "total": .string(total), "items": .array(items)]
    }

    /// Minor units as a decimal amount with the currency code: `1234 EUR` → `12.34 EUR`.
    static func money(_ minor: Int64, _ currency: String) -> String {
        let digits = zeroDecimalCurrencies.contains(currency) ? 0 : (threeDecimalCurrencies.contains(currency) ? 3 : 2)
        guard digits > 0 else { return "\(minor) \(currency)" }
        var scale: Int64 = 1
        for _ in 0..<digits { scale *= 10 }
        let sign = minor < 0 ? "-" : ""
        let whole = abs(minor) / scale
        let fraction = String(abs(minor) % scale)
        return "\(sign)\(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction) \(currency)"
    }

    static let zeroDecimalCurrencies: Set<String> = ["JPY", "KRW", "VND", "CLP", "ISK", "XAF", "XOF", "PYG", "UGX"]
    static let threeDecimalCurrencies: Set<String> = ["BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD"]
}
