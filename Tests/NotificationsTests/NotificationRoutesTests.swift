import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Notifications

@Suite struct NotificationRoutesTests {
    typealias H = NotificationHarness

    static func send(to user: String, category: String = "news", channels: String? = nil) -> String {
        let channelsMember = channels.map { #","channels":\#($0)"# } ?? ""
        return #"{"recipients":[{"user_id":"\#(user)"}],"category":"\#(category)","subject":"Hello","text":"Body <b>"\#(channelsMember)}"#
    }

    @Test(arguments: TestDatabase.engines)
    func sendListReadAndOwnership(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let alice = Identifier.make(prefix: "usr")
        let admin = try await h.token(.admin)
        let aliceToken = try await h.token(.customer, alice)
        let bobToken = try await h.token(.customer)
        try await h.service.makeApplication().test(.router) { client in
            let sent = try await client.call(.post, "/api/notifications", token: admin, body: Self.send(to: alice))
            #expect(sent.status == .accepted)
            let notification = try #require((try H.json(sent)["data"] as? [[String: Any]])?.first)
            let id = try #require(notification["id"] as? String)
            let deliveries = try #require(notification["deliveries"] as? [[String: Any]])
            #expect(Set(deliveries.compactMap { $0["channel"] as? String }) == ["email", "in_app"])
            #expect(deliveries.first { $0["channel"] as? String == "in_app" }?["status"] as? String == "sent")
            #expect(deliveries.first { $0["channel"] as? String == "email" }?["status"] as? String == "queued")
            #expect((notification["skipped"] as? [[String: Any]])?.first?["channel"] as? String == "push")

            // Alice's inbox has it, unread; Bob's is empty and Alice's message is 404 to him.
            let inbox = try H.json(try await client.call(.get, "/api/notifications?read=false", token: aliceToken))
            #expect((inbox["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
            let bobInbox = try H.json(try await client.call(.get, "/api/notifications", token: bobToken))
            #expect((bobInbox["data"] as? [Any])?.isEmpty == true)
            #expect(try await client.call(.get, "/api/notifications/\(id)", token: bobToken).status == .notFound)
            #expect(try await client.call(.post, "/api/notifications/\(id)/read", token: bobToken).status == .notFound)

            let read = try await client.call(.post, "/api/notifications/\(id)/read", token: aliceToken)
            #expect(read.status == .ok)
            #expect(try H.json(read)["read"] as? Bool == true)
            let unread = try H.json(try await client.call(.get, "/api/notifications?read=false", token: aliceToken))
            #expect((unread["data"] as? [Any])?.isEmpty == true)

            // Support sees everything, filtered by delivery status.
            let support = try await h.token(.support)
            let queued = try H.json(try await client.call(.get, "/api/notifications?status=queued", token: support))
            #expect((queued["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
            let dead = try H.json(try await client.call(.get, "/api/notifications?status=dead", token: support))
            #expect((dead["data"] as? [Any])?.isEmpty == true)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func permissionsAreEnforced(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let customer = try await h.token(.customer)
        let support = try await h.token(.support)
        let service = try await h.token(.service)
        let user = Identifier.make(prefix: "usr")
        try await h.service.makeApplication().test(.router) { client in
            #expect(try await client.call(.post, "/api/notifications", token: nil, body: Self.send(to: user)).status == .unauthorized)
            #expect(try await client.call(.post, "/api/notifications", token: customer, body: Self.send(to: user)).status == .forbidden)
            #expect(try await client.call(.post, "/api/notifications", token: support, body: Self.send(to: user)).status == .forbidden)
            #expect(try await client.call(.post, "/api/notifications", token: service, body: Self.send(to: user)).status == .accepted)
            // Raw addresses are for administrators only.
            let raw = #"{"recipients":[{"email":"a@example.com"}],"category":"news","subject":"s","text":"t"}"#
            let refused = try await client.call(.post, "/api/notifications", token: service, body: raw)
            #expect(refused.status == .unprocessableContent)
            #expect(try H.json(refused)["errors"].debugDescription.contains("recipients[0].email"))
            #expect(try await client.call(.post, "/api/notification-templates", token: support, body: "{}").status == .forbidden)
            #expect(try await client.call(.get, "/api/notifications/dead-letters", token: customer).status == .forbidden)
            #expect(try await client.call(.post, "/api/notifications/ntf_01J00000000000000000000000/retry", token: support).status == .forbidden)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func badBodiesAreProblems(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let admin = try await h.token(.admin)
        let user = Identifier.make(prefix: "usr")
        try await h.service.makeApplication().test(.router) { client in
            let cases: [(String, String)] = [
                (#"{"recipients":[{"user_id":"\#(user)"}],"category":"news","subject":"s","text":"t","extra":1}"#, "extra"),
                (#"{"recipients":[],"category":"news","subject":"s","text":"t"}"#, "recipients"),
                (#"{"recipients":[{"user_id":"bob"}],"category":"news","subject":"s","text":"t"}"#, "recipients[0].user_id"),
                (#"{"recipients":[{"user_id":"\#(user)"}],"category":"News!","subject":"s","text":"t"}"#, "category"),
                (#"{"recipients":[{"user_id":"\#(user)"}],"category":"news","subject":"s","text":"t","channels":["fax"]}"#, "channels"),
                (#"{"recipients":[{"user_id":"\#(user)"}],"template_id":"order-paid","subject":"s"}"#, "subject"),
                (#"{"recipients":[{"user_id":"\#(user)"}],"template_id":"nope","data":{}}"#, "template_id"),
                (#"{"recipients":[{"user_id":"\#(user)"}],"template_id":"order-paid","data":{"order_id":"o"}}"#, "data.total"),
            ]
            for (body, field) in cases {
                let response = try await client.call(.post, "/api/notifications", token: admin, body: body)
                #expect(response.status == .unprocessableContent, "\(field)")
                #expect(response.headers[.contentType] == Problem.contentType)
                let fields = (try H.json(response)["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? []
                #expect(fields.contains(field), "\(field): \(fields)")
            }
            let malformed = try await client.call(.post, "/api/notifications", token: admin, body: "{")
            #expect(malformed.status == .badRequest)
            let query = try await client.call(.get, "/api/notifications?status=lost", token: admin)
            #expect(query.status == .badRequest)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func templatesAreValidatedRenderedAndVersioned(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let admin = try await h.token(.admin)
        let user = Identifier.make(prefix: "usr")
        try await h.service.makeApplication().test(.router) { client in
            let undeclared = #"{"id":"welcome","category":"news","subject":"Hi {{name}}","text":"{{greeting}}","variables":["name"]}"#
            let refused = try await client.call(.post, "/api/notification-templates", token: admin, body: undeclared)
            #expect(refused.status == .unprocessableContent)
            #expect(try H.json(refused)["errors"].debugDescription.contains("greeting"))
            let broken = #"{"id":"welcome","category":"news","subject":"Hi","text":"{{#a}}","variables":["a"]}"#
            #expect(try await client.call(.post, "/api/notification-templates", token: admin, body: broken).status == .unprocessableContent)

            let good = #"{"id":"welcome","category":"news","subject":"Hi {{name}}","text":"Hello {{name}}","html":"<p>{{name}}</p>","variables":["name"]}"#
            let created = try await client.call(.post, "/api/notification-templates", token: admin, body: good)
            #expect(created.status == .created)
            #expect(created.headers[.eTag] == "\"v1\"")
            #expect(try await client.call(.post, "/api/notification-templates", token: admin, body: good).status == .conflict)

            let sent = try await client.call(
                .post, "/api/notifications", token: admin,
                body: #"{"recipients":[{"user_id":"\#(user)"}],"channels":["in_app"],"template_id":"welcome","data":{"name":"<Ann>"}}"#)
            #expect(sent.status == .accepted)
            let notification = try #require((try H.json(sent)["data"] as? [[String: Any]])?.first)
            #expect(notification["subject"] as? String == "Hi <Ann>")
            #expect(notification["html"] as? String == "<p>&lt;Ann&gt;</p>")
            #expect(notification["category"] as? String == "news")

            let update = #"{"category":"news","subject":"Hey {{name}}","text":"Hello {{name}}","variables":["name"]}"#
            let stale = try await client.call(.put, "/api/notification-templates/welcome", token: admin, body: update, headers: [.ifMatch: "\"v0\""])
            #expect(stale.status == .preconditionFailed)
            let updated = try await client.call(.put, "/api/notification-templates/welcome", token: admin, body: update, headers: [.ifMatch: "\"v1\""])
            #expect(updated.status == .ok)
            #expect(try H.json(updated)["subject"] as? String == "Hey {{name}}")

            // Built-in templates are seeded, editable, and deleting one restores the shipped text.
            let builtIn = try H.json(try await client.call(.get, "/api/notification-templates/order-paid", token: admin))
            #expect(builtIn["built_in"] as? Bool == true)
            #expect(builtIn["category"] as? String == "receipts")
            #expect(try await client.call(.delete, "/api/notification-templates/order-paid", token: admin).status == .noContent)
            #expect(try await client.call(.get, "/api/notification-templates/order-paid", token: admin).status == .ok)
            #expect(try await client.call(.delete, "/api/notification-templates/welcome", token: admin).status == .noContent)
            #expect(try await client.call(.get, "/api/notification-templates/welcome", token: admin).status == .notFound)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func preferencesApplyAndCriticalCategoriesBypassThem(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let admin = try await h.token(.admin)
        let alice = Identifier.make(prefix: "usr")
        let aliceToken = try await h.token(.customer, alice)
        let bobToken = try await h.token(.customer)
        try await h.service.makeApplication().test(.router) { client in
            let optOut = #"{"preferences":[{"category":"news","channel":"email","enabled":false}]}"#
            let saved = try await client.call(.put, "/api/notification-preferences/\(alice)", token: aliceToken, body: optOut)
            #expect(saved.status == .ok)
            #expect(try await client.call(.put, "/api/notification-preferences/\(alice)", token: bobToken, body: optOut).status == .notFound)
            #expect(try await client.call(.get, "/api/notification-preferences/\(alice)", token: bobToken).status == .notFound)
            let critical = #"{"preferences":[{"category":"security","channel":"email","enabled":false}]}"#
            #expect(try await client.call(.put, "/api/notification-preferences/\(alice)", token: aliceToken, body: critical).status == .unprocessableContent)

            let news = try H.json(try await client.call(.post, "/api/notifications", token: admin, body: Self.send(to: alice)))
            let newsChannels = ((news["data"] as? [[String: Any]])?.first?["deliveries"] as? [[String: Any]])?.compactMap { $0["channel"] as? String }
            #expect(newsChannels == ["in_app"])
            let receipt = try H.json(try await client.call(.post, "/api/notifications", token: admin, body: Self.send(to: alice, category: "security")))
            let receiptChannels = ((receipt["data"] as? [[String: Any]])?.first?["deliveries"] as? [[String: Any]])?.compactMap { $0["channel"] as? String }
            #expect(Set(receiptChannels ?? []) == ["email", "in_app"])
        }
    }
}
