import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import SQLKit
import Testing

@testable import Notifications

@Suite struct DataProtectionTests {
    typealias H = NotificationHarness

    /// Content, raw addresses and template bodies are ciphertext at rest; the API still shows them.
    @Test(arguments: TestDatabase.engines)
    func userSuppliedValuesAreSealedAtRest(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let admin = try await h.token(.admin)
        let secret = "Secret-\(UUID().uuidString)"
        try await h.service.makeApplication().test(.router) { client in
            let sent = try await client.call(
                .post, "/api/notifications", token: admin,
                body: #"{"recipients":[{"email":"ann@example.com"}],"category":"news","subject":"\#(secret)","text":"\#(secret) body"}"#)
            #expect(sent.status == .accepted)
            let template = #"{"id":"sealed","category":"news","subject":"\#(secret)","text":"t"}"#
            #expect(try await client.call(.post, "/api/notification-templates", token: admin, body: template).status == .created)
            let rows = try await h.service.database.read { sql in
                (try await sql.select().columns("content", "address").from("notifications").all().flatMap { row in
                    [try row.decode(column: "content", as: Data.self), try row.decode(column: "address", as: Data.self)]
                }) + (try await sql.select().column("content").from("notification_templates")
                    .where("id", .equal, SQLBind("sealed")).all().map { try $0.decode(column: "content", as: Data.self) })
            }
            #expect(rows.count == 3)
            for sealed in rows {
                let text = String(decoding: sealed, as: UTF8.self)
                #expect(!text.contains(secret))
                #expect(!text.contains("ann@example.com"))
            }
            let listed = try H.json(try await client.call(.get, "/api/notifications", token: admin))
            #expect((listed["data"] as? [[String: Any]])?.first?["subject"] as? String == secret)
        }
    }

    /// Every mutation through the API appends exactly one audit record in its transaction.
    @Test(arguments: TestDatabase.engines)
    func everyMutationIsAudited(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let admin = try await h.token(.admin)
        let alice = Identifier.make(prefix: "usr")
        let aliceToken = try await h.token(.customer, alice)
        try await h.service.makeApplication().test(.router) { client in
            func auditCount() async throws -> Int {
                try await h.service.database.read { sql in
                    try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("audit_log")
                        .first()?.decode(column: "n", as: Int.self) ?? 0
                }
            }
            let before = try await auditCount()
            let sent = try await client.call(.post, "/api/notifications", token: admin, body: NotificationRoutesTests.send(to: alice, channels: #"["in_app"]"#))
            let id = try #require(((try H.json(sent)["data"] as? [[String: Any]])?.first)?["id"] as? String)
            #expect(try await client.call(.post, "/api/notifications/\(id)/read", token: aliceToken).status == .ok)
            #expect(try await client.call(
                .put, "/api/notification-preferences/\(alice)", token: aliceToken,
                body: #"{"preferences":[{"category":"news","channel":"push","enabled":false}]}"#).status == .ok)
            #expect(try await client.call(
                .post, "/api/notification-templates", token: admin,
                body: #"{"id":"audited","category":"news","subject":"s","text":"t"}"#).status == .created)
            #expect(try await client.call(.delete, "/api/notification-templates/audited", token: admin).status == .noContent)
            #expect(try await auditCount() - before == 5)
        }
    }
}
