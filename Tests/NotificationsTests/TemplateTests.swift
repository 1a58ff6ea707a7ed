import Foundation
import MeridianKit
import Testing

@testable import Notifications

@Suite struct TemplateTests {
    @Test func htmlIsEscapedTextIsNot() throws {
        let template = MessageTemplate(
            subject: "Hi {{name}}", text: "Dear {{name}}, {{#items}}{{label}};{{/items}}",
            html: "<p>Dear {{name}}</p><p>{{{trusted}}}</p>", variables: ["name", "items", "trusted"])
        #expect(template.problems().isEmpty)
        let rendered = try template.render([
            "name": .string("<b>Tom & Jerry</b>"), "items": .array([.object(["label": .string("a")]), .object(["label": .string("b")])]),
            "trusted": .string("<em>ok</em>"),
        ])
        #expect(rendered.subject == "Hi <b>Tom & Jerry</b>")
        #expect(rendered.text == "Dear <b>Tom & Jerry</b>, a;b;")
        #expect(rendered.html == "<p>Dear &lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p><p><em>ok</em></p>")
    }

    @Test func undeclaredVariablesAndParseErrorsAreNamed() {
        let undeclared = MessageTemplate(subject: "{{order_id}}", text: "{{total}} {{#lines}}{{name}}{{/lines}}", html: nil, variables: ["order_id"])
        let problems = undeclared.problems()
        #expect(problems.map(\.field) == ["text", "text"])
        #expect(problems[0].message.contains("\"total\""))
        #expect(problems[1].message.contains("\"lines\""))
        // `name` inside a section may come from the section's item: not reported.
        #expect(!problems.contains { $0.message.contains("\"name\"") })

        let broken = MessageTemplate(subject: "ok", text: "{{#open}} never closed", html: nil, variables: ["open"])
        #expect(broken.problems().map(\.field) == ["text"])
        let partial = MessageTemplate(subject: "ok", text: "{{> header}}", html: nil, variables: [])
        #expect(partial.problems().first?.message.contains("partials") == true)
    }

    @Test func missingDataIsRefusedNotRenderedEmpty() {
        let template = MessageTemplate(subject: "{{a}}", text: "{{b}}", html: nil, variables: ["a", "b"])
        #expect(throws: MessageTemplate.MissingData.self) { try template.render(["a": .string("x")]) }
    }

    @Test func builtInTemplatesAreValidAndRenderAnOrder() throws {
        for (id, shipped) in BuiltInTemplates.all { #expect(shipped.template.problems().isEmpty, "\(id)") }
        let payload = try OrderPayload(.object([
            "order_id": .string("ord_1"), "user_id": .string("usr_1"), "status": .string("paid"),
            "total": .object(["amount_minor": .integer(123456), "currency": .string("EUR")]),
            "items": .array([.object(["sku": .string("S1"), "name": .string("Tea <green>"), "quantity": .integer(2), "unit_price_minor": .integer(500)])]),
        ]))
        let rendered = try #require(BuiltInTemplates.all["order-paid"]).template.render(payload.templateData)
        #expect(rendered.subject == "Receipt for your order ord_1")
        #expect(rendered.text.contains("1234.56 EUR"))
        #expect(rendered.text.contains("2 x Tea <green> (5.00 EUR)"))
        #expect(rendered.html?.contains("Tea &lt;green&gt;") == true)
        #expect(OrderPayload.money(500, "JPY") == "500 JPY")
        #expect(OrderPayload.money(5, "KWD") == "0.005 KWD")
    }
}

@Suite struct DeliveryRulesTests {
    @Test func backoffGrowsWithJitterAndStopsAtTheBounds() throws {
        let policy = RetryPolicy(baseDelay: .seconds(2), maxDelay: .seconds(60), maxAttempts: 5, maxAge: .seconds(3600))
        let created = Date(timeIntervalSince1970: 1_000_000)
        let delays = (1...4).map { attempt in
            policy.nextAttempt(after: attempt, createdAt: created, now: created, jitter: 1)!.timeIntervalSince(created)
        }
        #expect(delays == [2, 4, 8, 16])
        // Jitter picks a point in the upper half of the window.
        #expect(policy.nextAttempt(after: 3, createdAt: created, now: created, jitter: 0)!.timeIntervalSince(created) == 4)
        #expect(policy.nextAttempt(after: 20, createdAt: created, now: created, jitter: 1) == nil)
        let capped = RetryPolicy(baseDelay: .seconds(2), maxDelay: .seconds(60), maxAttempts: 50, maxAge: .seconds(86400))
        #expect(capped.nextAttempt(after: 30, createdAt: created, now: created, jitter: 1)!.timeIntervalSince(created) == 60)
        // Out of attempts, or past the age bound: dead.
        #expect(policy.nextAttempt(after: 5, createdAt: created, now: created) == nil)
        #expect(policy.nextAttempt(after: 1, createdAt: created, now: created.addingTimeInterval(3599), jitter: 1) == nil)
        // Retry-After is a floor.
        #expect(policy.nextAttempt(after: 1, createdAt: created, now: created, retryAfter: .seconds(30), jitter: 1)!
            .timeIntervalSince(created) == 30)
    }

    @Test func preferencesSkipOptedOutChannelsExceptForCriticalCategories() {
        let marketing = ChannelSelection.select(requested: nil, category: "marketing", optedOut: [.email])
        #expect(marketing.channels == [.push, .inApp])
        #expect(marketing.skipped.map(\.channel) == [.email])
        let receipt = ChannelSelection.select(requested: nil, category: "receipts", optedOut: [.email, .push])
        #expect(receipt.channels == Channel.allCases)
        let security = ChannelSelection.select(requested: [.email], category: "security", optedOut: [.email])
        #expect(security.channels == [.email])
        let explicit = ChannelSelection.select(requested: [.email, .inApp], category: "news", optedOut: [.inApp])
        #expect(explicit.channels == [.email])
    }

    @Test func messageIDIsStablePerDelivery() {
        let id = MessageID.make(deliveryID: "dlv_01ABC", domain: "shop.example")
        #expect(id == MessageID.make(deliveryID: "dlv_01ABC", domain: "shop.example"))
        #expect(id != MessageID.make(deliveryID: "dlv_01ABD", domain: "shop.example"))
        #expect(MessageID.domain(of: "Shop <noreply@shop.example>".replacingOccurrences(of: ">", with: "")) == "shop.example")
    }
}
