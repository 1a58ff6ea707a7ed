import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
@testable import MeridianKit
import MeridianTestSupport
import NIOCore
import SQLKit
import Testing

/// A service-shaped router with denial recording and the audit route, over an `AuditFixture`.
struct AuditedRoutes {
    static let table: RouteAccessTable = [
        "GET /me": .authenticated,
        "POST /orders": .anyOf([.ordersWrite]),
        "GET /api/audit/auditkit": .anyOf([.auditRead]),
    ]

    static func withApp(
        _ engine: DatabaseEngine,
        _ body: @escaping @Sendable (any TestClientProtocol, AuditFixture, TestTokens) async throws -> Void
    ) async throws {
        let tokens = await TestTokens.make()
        try await AuditFixture.with(engine) { fixture in
            let router = ServiceHost.makeRouter(metrics: ServiceMetrics(service: "auditkit"), readiness: Readiness())
            router.add(
                middleware: AccessControlMiddleware(
                    table: table, verifier: tokens.verifier,
                    denials: AuditDenials(log: fixture.log, database: fixture.database, logger: Logger(label: "t"))))
            AuditRoutes(log: fixture.log, database: fixture.database).register(on: router)
            router.get("/me") { _, context in try context.requirePrincipal().subject }
            router.post("/orders") { _, context -> String in
                let actor = AuditActor(context: context)
                try await fixture.database.transaction { sql in
                    try await fixture.log.append(
                        AuditEvent(action: "order.create", resourceType: "order", resourceID: "ord_1",
                                   changes: .object(["currency": .string("EUR")])),
                        actor: actor, on: sql)
                }
                return "created"
            }
            try await Application(router: router).test(.router) { client in try await body(client, fixture, tokens) }
        }
    }
}

func auditJSON(_ response: TestResponse) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
}

@Suite struct AuditDenialTests {
    @Test(arguments: TestDatabase.engines)
    func anUnauthenticatedRequestIsRecordedAsDenied(_ engine: DatabaseEngine) async throws {
        try await AuditedRoutes.withApp(engine) { client, fixture, _ in
            let response = try await client.execute(
                uri: "/me", method: .get,
                headers: [
                    .requestID: "req-denied-1", TraceContext.traceparentHeader: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                    .forwarded: "for=192.0.2.60;proto=http, for=198.51.100.17;proto=http",
                ])
            #expect(response.status == .unauthorized)
            let stored = try #require(try await fixture.records().first)
            let record = stored.record
            #expect(record.action == "request.deny" && record.outcome == "denied")
            #expect(record.resourceType == "route" && record.resourceID == "GET /me")
            #expect(record.actorSub == nil)
            #expect(record.requestID == "req-denied-1")
            #expect(record.traceID == "0af7651916cd43dd8448eb211c80319c")
            let details = try AuditDetails(parsing: try fixture.cipher.openBytes(
                stored.sealedDetails, table: "audit_log", column: "details", rowID: record.id))
            #expect(details.changes == .object(["status": .integer(401), "reason": .string("unauthenticated")]))
            // The last element is the one the nearest proxy added.
            #expect(details.sourceAddress?.hasPrefix("198.51.100.17") == true)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aForbiddenRequestIsRecordedWithItsCaller(_ engine: DatabaseEngine) async throws {
        try await AuditedRoutes.withApp(engine) { client, fixture, tokens in
            let customer = try await tokens.token(.customer, subject: "usr_bob")
            let response = try await client.execute(
                uri: "/orders", method: .post, headers: [.authorization: "Bearer \(customer)"])
            #expect(response.status == .forbidden)
            let invalid = try await client.execute(
                uri: "/me", method: .get, headers: [.authorization: "Bearer not-a-token"])
            #expect(invalid.status == .unauthorized)
            let records = try await fixture.records().map(\.record)
            #expect(records.count == 2)
            #expect(records[0].actorSub == "usr_bob" && records[0].actorRoles == "customer")
            #expect(records[0].resourceID == "POST /orders" && records[0].outcome == "denied")
            #expect(records[1].actorSub == nil && records[1].resourceID == "GET /me")
            #expect(try await fixture.verify().isIntact)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func allowedAndUnroutedRequestsAreNotDenials(_ engine: DatabaseEngine) async throws {
        try await AuditedRoutes.withApp(engine) { client, fixture, tokens in
            let token = try await tokens.token(.customer, subject: "usr_bob")
            #expect(try await client.execute(uri: "/me", method: .get, headers: [.authorization: "Bearer \(token)"]).status == .ok)
            #expect(try await client.execute(uri: "/nowhere", method: .get).status == .notFound)
            #expect(try await fixture.records().isEmpty)
        }
    }

    @Test func aDenialThatCannotBeRecordedIsStillTheRefusalNotA500() async throws {
        try await AuditedRoutes.withApp(.sqlite) { client, fixture, _ in
            try await fixture.execute("DROP TABLE audit_log")
            let response = try await client.execute(uri: "/me", method: .get)
            #expect(response.status == .unauthorized)
        }
    }

    @Test func forwardedForTakesTheLastElement() {
        func parse(_ value: String) -> String? { AuditRequestSource.forwardedFor([.forwarded: value]) }
        #expect(parse("for=192.0.2.1;proto=http, for=198.51.100.2;proto=http") == "198.51.100.2")
        #expect(parse(#"for="[2001:db8::1]";proto=http"#) == "2001:db8::1")
        #expect(parse("for=unknown") == nil)
        #expect(parse("proto=http") == nil)
        #expect(AuditRequestSource.forwardedFor([:]) == nil)
        #expect(AuditActor.traceID(traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            == "0af7651916cd43dd8448eb211c80319c")
    }
}

@Suite struct AuditRoutesTests {
    /// Records of three actors, actions and resources, a minute apart.
    static func seed(_ fixture: AuditFixture) async throws {
        let entries: [(String, String, String, String, AuditOutcome)] = [
            ("usr_alice", "order.create", "order", "ord_1", .success),
            ("usr_bob", "order.create", "order", "ord_2", .success),
            ("usr_alice", "order.pay", "order", "ord_1", .failure),
            ("usr_carol", "user.update", "user", "usr_carol", .success),
            ("usr_alice", "order.cancel", "order", "ord_1", .success),
        ]
        for (subject, action, type, id, outcome) in entries {
            fixture.clock.advance(60)
            try await fixture.database.transaction { sql in
                try await fixture.log.append(
                    AuditEvent(action: action, resourceType: type, resourceID: id, outcome: outcome,
                               changes: .object(["by": .string(subject)])),
                    actor: AuditActor(subject: subject, clientID: "cli_web", roles: ["customer"]), on: sql)
            }
        }
    }

    func list(_ client: any TestClientProtocol, _ token: String, _ query: String = "") async throws -> TestResponse {
        try await client.execute(uri: "/api/audit/auditkit" + query, method: .get, headers: [.authorization: "Bearer \(token)"])
    }

    func ids(_ response: TestResponse) throws -> [String] {
        let data = try #require(try auditJSON(response)["data"] as? [[String: Any]])
        return data.compactMap { ($0["resource"] as? [String: Any])?["id"] as? String }
    }

    @Test(arguments: TestDatabase.engines)
    func supportAndAdminReadCustomersAreRefused(_ engine: DatabaseEngine) async throws {
        try await AuditedRoutes.withApp(engine) { client, fixture, tokens in
            try await Self.seed(fixture)
            for role in [BuiltInRole.support, .admin] {
                let response = try await list(client, try await tokens.token(role, subject: "usr_staff"))
                #expect(response.status == .ok, "\(role)")
            }
            let customer = try await list(client, try await tokens.token(.customer, subject: "usr_alice"))
            #expect(customer.status == .forbidden)
            let anonymous = try await client.execute(uri: "/api/audit/auditkit", method: .get)
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func recordsComeWithDecryptedChangesAndTheirChain(_ engine: DatabaseEngine) async throws {
        try await AuditedRoutes.withApp(engine) { client, fixture, tokens in
            try await Self.seed(fixture)
            let response = try await list(client, try await tokens.token(.support, subject: "usr_staff"), "?limit=1")
            let body = try auditJSON(response)
            let record = try #require((body["data"] as? [[String: Any]])?.first)
            #expect(record["action"] as? String == "order.create")
            #expect(record["outcome"] as? String == "success")
            #expect(record["sequence"] as? Int == 1)
            #expect((record["actor"] as? [String: Any])?["sub"] as? String == "usr_alice")
            #expect((record["actor"] as? [String: Any])?["client_id"] as? String == "cli_web")
            #expect((record["changes"] as? [String: Any])?["by"] as? String == "usr_alice")
            #expect(record["previous_hash"] as? String == AuditRecord.genesisHash)
            #expect((record["hash"] as? String)?.count == 64)
            #expect(record.keys.contains("trace_id") && record.keys.contains("source_address"))
            #expect(body["next_cursor"] is String)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func absentActorAndResourceFieldsAreNullNotMissing(_ engine: DatabaseEngine) async throws {
        try await AuditedRoutes.withApp(engine) { client, fixture, tokens in
            try await fixture.database.transaction { sql in
                try await fixture.log.append(
                    AuditEvent(action: "key.rotate", resourceType: "data_key", resourceID: nil),
                    actor: .system("auditkit"), on: sql)
            }
            let response = try await list(client, try await tokens.token(.support, subject: "usr_staff"))
            let record = try #require((try auditJSON(response)["data"] as? [[String: Any]])?.first)
            let actor = try #require(record["actor"] as? [String: Any])
            let resource = try #require(record["resource"] as? [String: Any])
            #expect(actor["sub"] as? String == "system:auditkit")
            #expect(actor.keys.sorted() == ["client_id", "roles", "sub"] && actor["client_id"] is NSNull)
            #expect(resource.keys.sorted() == ["id", "type"] && resource["id"] is NSNull)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func filtersNarrowTheList(_ engine: DatabaseEngine) async throws {
        try await AuditedRoutes.withApp(engine) { client, fixture, tokens in
            try await Self.seed(fixture)
            let token = try await tokens.token(.support, subject: "usr_staff")
            #expect(try ids(try await list(client, token, "?actor=usr_alice")) == ["ord_1", "ord_1", "ord_1"])
            #expect(try ids(try await list(client, token, "?actor=cli_web")).count == 5)
            #expect(try ids(try await list(client, token, "?resource_type=user")) == ["usr_carol"])
            #expect(try ids(try await list(client, token, "?resource_type=order&resource_id=ord_2")) == ["ord_2"])
            #expect(try ids(try await list(client, token, "?action=order.create")) == ["ord_1", "ord_2"])
            #expect(try ids(try await list(client, token, "?outcome=failure")) == ["ord_1"])
            // The seed's records are one minute apart from the clock's start.
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            let from = Timestamp.format(start.addingTimeInterval(150))
            let to = Timestamp.format(start.addingTimeInterval(250))
            #expect(try ids(try await list(client, token, "?from=\(from)&to=\(to)")) == ["ord_1", "usr_carol"])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func pagesFollowTheCursor(_ engine: DatabaseEngine) async throws {
        try await AuditedRoutes.withApp(engine) { client, fixture, tokens in
            try await Self.seed(fixture)
            let token = try await tokens.token(.admin, subject: "usr_staff")
            var cursor: String?
            var seen: [Int] = []
            repeat {
                let response = try await list(client, token, "?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
                let body = try auditJSON(response)
                seen += (body["data"] as? [[String: Any]] ?? []).compactMap { $0["sequence"] as? Int }
                cursor = body["next_cursor"] as? String
            } while cursor != nil
            #expect(seen == [1, 2, 3, 4, 5])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func badQueriesAreA400(_ engine: DatabaseEngine) async throws {
        try await AuditedRoutes.withApp(engine) { client, _, tokens in
            let token = try await tokens.token(.admin, subject: "usr_staff")
            for query in ["?from=yesterday", "?outcome=maybe", "?limit=0", "?cursor=%%%", "?sort=desc",
                          "?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"] {
                let response = try await list(client, token, query)
                #expect(response.status == .badRequest, "\(query)")
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func nothingInTheAPIChangesOrRemovesARecord(_ engine: DatabaseEngine) async throws {
        try await AuditedRoutes.withApp(engine) { client, fixture, tokens in
            try await Self.seed(fixture)
            let token = try await tokens.token(.admin, subject: "usr_staff")
            for method in [HTTPRequest.Method.post, .put, .patch, .delete] {
                for uri in ["/api/audit/auditkit", "/api/audit/auditkit/1"] {
                    let response = try await client.execute(
                        uri: uri, method: method, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                        body: ByteBuffer(string: "{}"))
                    #expect(!(200..<300).contains(response.status.code), "\(method) \(uri)")
                }
            }
            #expect(try await fixture.records().count == 5)
            #expect(try await fixture.verify().isIntact)
        }
    }
}
