import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import Testing

@testable import Analytics

/// The gateway's refused requests (`POST /internal/analytics/denials`) become `request.deny` records of
/// analytics' audit log, with the caller, request, trace and source the gateway saw, in one transaction.
@Suite struct DenialIngestTests {
    static let deniedAt = Date(timeIntervalSince1970: 1_790_000_000.25)

    static func denial(
        reason: String = "unauthenticated", status: Int = 401, subject: String? = nil, requestID: String = "req-gw-1"
    ) -> [String: Any] {
        [
            "denied_at": Timestamp.format(deniedAt), "route": "GET /api/orders/**", "status": status,
            "reason": reason, "subject": subject ?? NSNull(), "client_id": NSNull(), "roles": [String](),
            "request_id": requestID, "trace_id": "0af7651916cd43dd8448eb211c80319c", "source_address": "203.0.113.9",
        ]
    }

    /// The gateway's token: the platform's service client, the only one whose reports are taken.
    static func platformClient(_ harness: AnalyticsHarness) async throws -> BearerClient {
        let role = BuiltInRole.service
        let token = try await harness.tokens.token(
            subject: ServiceTokenProvider.defaultClientID, roles: [role.rawValue], permissions: role.permissions.sorted(),
            clientID: ServiceTokenProvider.defaultClientID)
        return BearerClient(harness.anonymous, token: token)
    }

    static func post(
        _ denials: [[String: Any]], _ harness: AnalyticsHarness, as client: BearerClient? = nil
    ) async throws -> TestResponse {
        let gateway = if let client { client } else { try await platformClient(harness) }
        return try await gateway.execute(
            uri: "/internal/analytics/denials", method: .post, headers: jsonHeaders,
            body: try jsonBody(["denials": denials]))
    }

    static func deniedRecords(_ harness: AnalyticsHarness) async throws -> [[String: Any]] {
        try #require(try await harness.get("/api/audit/analytics?action=request.deny")["data"] as? [[String: Any]])
    }

    @Test(arguments: TestDatabase.engines)
    func reportedRefusalsBecomeAuditRecords(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            var flood = Self.denial(reason: "invalid-token", requestID: "req-gw-2")
            flood["count"] = 250
            flood["last_denied_at"] = Timestamp.format(Self.deniedAt.addingTimeInterval(0.75))
            let response = try await Self.post([Self.denial(), flood], harness)
            #expect(response.status == .accepted)
            #expect(try object(response)["recorded"] as? Int == 2)

            let records = try await Self.deniedRecords(harness)
            #expect(records.count == 2)
            let first = try #require(records.first { $0["request_id"] as? String == "req-gw-1" })
            #expect(first["outcome"] as? String == "denied")
            #expect(first["trace_id"] as? String == "0af7651916cd43dd8448eb211c80319c")
            #expect(first["source_address"] as? String == "203.0.113.9")
            #expect((first["resource"] as? [String: Any])?["id"] as? String == "GET /api/orders/**")
            #expect((first["actor"] as? [String: Any])?["sub"] is NSNull)
            let changes = try #require(first["changes"] as? [String: Any])
            #expect(changes["reported_by"] as? String == "gateway")
            #expect(changes["reason"] as? String == "unauthenticated")
            #expect(changes["status"] as? Int == 401)
            #expect((changes["denied_at"] as? String).flatMap(Timestamp.parse) == Self.deniedAt)
            #expect(changes["count"] == nil, "a single refusal carries no count")
            let second = try #require(records.first { $0["request_id"] as? String == "req-gw-2" })
            let counted = try #require(second["changes"] as? [String: Any])
            #expect(counted["count"] as? Int == 250)
            #expect((counted["last_denied_at"] as? String).flatMap(Timestamp.parse) == Self.deniedAt.addingTimeInterval(0.75))
        }
    }

    /// `analytics:write` is not enough: another service client or an administrator could otherwise write
    /// records in any caller's name.
    @Test func onlyThePlatformsServiceClientReports() async throws {
        try await withAnalyticsService(.sqlite) { harness in
            let script = try await harness.client(as: .service, subject: "cli_script")
            #expect(try await Self.post([Self.denial()], harness, as: script).status == .forbidden)
            #expect(try await Self.post([Self.denial()], harness, as: harness.client).status == .forbidden)
            #expect(try await Self.deniedRecords(harness).isEmpty)
        }
    }

    /// The gateway is the only writer: a bad refusal is a bug to surface, and none of its batch is kept.
    @Test(arguments: TestDatabase.engines)
    func badReportsAreRefusedWhole(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            var unknownField = Self.denial()
            unknownField["password"] = "x"
            var badTime = Self.denial()
            badTime["denied_at"] = "yesterday"
            var badCount = Self.denial()
            badCount["count"] = 0
            let response = try await Self.post(
                [Self.denial(), Self.denial(status: 402), Self.denial(reason: "bored"), unknownField, badTime, badCount],
                harness)
            #expect(response.status == .unprocessableContent)
            let fields = ((try object(response)["errors"] as? [[String: Any]]) ?? []).compactMap { $0["field"] as? String }
            #expect(Set(fields) == [
                "denials[1].status", "denials[2].reason", "denials[3].password", "denials[4].denied_at",
                "denials[5].count",
            ])
            #expect(try await Self.deniedRecords(harness).isEmpty)

            let tooMany = try await Self.post(Array(repeating: Self.denial(), count: DenialIngestRoutes.maxDenials + 1), harness)
            #expect(tooMany.status == .contentTooLarge)
            #expect(try await Self.deniedRecords(harness).isEmpty)
        }
    }
}
