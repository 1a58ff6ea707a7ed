import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import SQLKit
import Testing

@testable import Analytics

@Suite struct SegmentTests {
    static func basic(_ secret: String) -> HTTPFields {
        [.authorization: "Basic " + Data("\(secret):".utf8).base64EncodedString(), .contentType: "application/json"]
    }

    /// What analytics-python sends: camelCase members, context and integrations, `sentAt` on the batch.
    static func message(_ type: String, user: String, extra: [String: Any] = [:]) -> [String: Any] {
        var message: [String: Any] = [
            "type": type, "messageId": UUID().uuidString, "userId": user, "anonymousId": NSNull(),
            "timestamp": Timestamp.format(Date()), "context": ["library": ["name": "analytics-python"], "ip": "192.0.2.1"],
            "integrations": [:],
        ]
        message.merge(extra) { _, new in new }
        return message
    }

    @Test(arguments: TestDatabase.engines)
    func batchWithAWriteKey(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let key = try await harness.writeKey()
            #expect(key.secret.hasPrefix(WriteKey.secretPrefix))
            let batch: [String: Any] = [
                "batch": [
                    Self.message("track", user: "usr_seg", extra: ["event": "Order Completed", "properties": ["revenue": 12]]),
                    Self.message("identify", user: "usr_seg", extra: ["traits": ["plan": "pro"]]),
                    Self.message("page", user: "usr_seg", extra: ["name": "Home", "properties": ["path": "/"]]),
                    Self.message("alias", user: "usr_seg"),
                ],
                "sentAt": Timestamp.format(Date()),
            ]
            let response = try await harness.anonymous.execute(
                uri: "/v1/batch", method: .post, headers: Self.basic(key.secret), body: try jsonBody(batch))
            #expect(response.status == .ok)
            let report = try object(response)
            #expect(report["success"] as? Bool == true)
            #expect(report["accepted"] as? Int == 3)
            #expect((report["rejected"] as? [[String: Any]])?.first?["index"] as? Int == 3)

            let events = try await harness.get("/api/analytics/events?user_id=usr_seg")
            let data = try #require(events["data"] as? [[String: Any]])
            #expect(Set(data.compactMap { $0["name"] as? String }) == ["Order Completed", "$identify", "$pageview"])
            let page = try #require(data.first { $0["name"] as? String == "$pageview" })
            #expect((page["properties"] as? [String: Any])?["name"] as? String == "Home")
            // The context (IP address, user agent) is not kept.
            #expect(!String(describing: data).contains("192.0.2.1"))
            #expect(data.allSatisfy { $0["source"] as? String == "segment" })
        }
    }

    @Test(arguments: TestDatabase.engines)
    func singleMessageRoutes(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let key = try await harness.writeKey()
            let id = UUID().uuidString
            for (route, body) in [
                ("/v1/track", ["messageId": id, "userId": "usr_one", "event": "Clicked"]),
                ("/v1/identify", ["userId": "usr_one", "traits": ["plan": "team"]]),
                ("/v1/page", ["anonymousId": "anon_one", "name": "Pricing"]),
                // The same message again: a duplicate, not a second event.
                ("/v1/track", ["messageId": id, "userId": "usr_one", "event": "Clicked"]),
            ] as [(String, [String: Any])] {
                let response = try await harness.anonymous.execute(
                    uri: route, method: .post, headers: Self.basic(key.secret), body: try jsonBody(body))
                #expect(response.status == .ok, "\(route)")
            }
            let events = try await harness.get("/api/analytics/events?user_id=usr_one")
            #expect((events["data"] as? [Any])?.count == 2)
            let anonymous = try await harness.get("/api/analytics/events?user_id=anon_one")
            #expect((anonymous["data"] as? [Any])?.count == 1)
        }
    }

    /// No key, an unknown key, a revoked key, or a bearer token instead: 401 with a Basic challenge.
    @Test(arguments: TestDatabase.engines)
    func theWriteKeyIsTheCredential(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let key = try await harness.writeKey()
            let body = try jsonBody(["batch": [Self.message("track", user: "u", extra: ["event": "x"])]])
            let admin = try await harness.tokens.token(.admin, subject: "usr_admin")
            for headers: HTTPFields in [
                [.contentType: "application/json"], Self.basic("mwk_unknown"),
                [.authorization: "Bearer \(admin)", .contentType: "application/json"],
                [.authorization: "Basic !!!", .contentType: "application/json"],
            ] {
                let response = try await harness.anonymous.execute(uri: "/v1/batch", method: .post, headers: headers, body: body)
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Basic realm="segment""#)
            }
            let good = try await harness.anonymous.execute(
                uri: "/v1/batch", method: .post, headers: Self.basic(key.secret), body: body)
            #expect(good.status == .ok)

            let revoke = try await harness.client.execute(uri: "/api/analytics/write-keys/\(key.id)", method: .delete)
            #expect(revoke.status == .noContent)
            let revoked = try await harness.anonymous.execute(
                uri: "/v1/batch", method: .post, headers: Self.basic(key.secret), body: body)
            #expect(revoked.status == .unauthorized)
            let missing = try await harness.client.execute(uri: "/api/analytics/write-keys/wk_nope", method: .delete)
            #expect(missing.status == .notFound)
        }
    }

    /// Keys are listed without their secret, and only a hash of the secret is stored.
    @Test(arguments: TestDatabase.engines)
    func writeKeysAreStoredHashed(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let key = try await harness.writeKey()
            let list = try await harness.get("/api/analytics/write-keys")
            let keys = try #require(list["data"] as? [[String: Any]])
            #expect(keys.count == 1)
            #expect(keys.first?["id"] as? String == key.id)
            #expect(keys.first?["revoked_at"] is NSNull)
            #expect(!String(describing: list).contains(key.secret))
            let stored = try await harness.service.database.read { sql in
                try await sql.select().columns("key_hash").from("analytics_write_keys").first()!
                    .decode(column: "key_hash", as: String.self)
            }
            #expect(stored == WriteKey.hash(key.secret))
            #expect(stored != key.secret)
        }
    }

    /// Creating a write key does not replay: a replay would hand the secret out again, and keeping the answer
    /// to replay would store the secret. A request with `Idempotency-Key` is refused and creates no key, and the
    /// idempotency records hold no secret.
    @Test(arguments: TestDatabase.engines)
    func writeKeyCreationRefusesIdempotencyKeys(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            for _ in 0..<2 {
                let refused = try await harness.client.execute(
                    uri: "/api/analytics/write-keys", method: .post, headers: [.idempotencyKey: "key-1"])
                #expect(refused.status == .badRequest)
                #expect(refused.headers[.contentType] == Problem.contentType)
                let problem = try object(refused)
                #expect(problem["type"] as? String == Problem.typeBase + "idempotency-key-not-accepted")
                #expect(problem["secret"] == nil)
            }
            let list = try await harness.get("/api/analytics/write-keys")
            #expect((list["data"] as? [Any])?.isEmpty == true)

            let key = try await harness.writeKey()
            // The kept bodies are sealed (the kernel's `idempotency_sealed_body`): opened here to read them.
            let cipher = harness.service.cipher
            let kept = try await harness.service.database.read { sql in
                try await sql.select().columns("row_id", "sealed_body").from("meridian_idempotency").all().map { row in
                    guard let sealed = try row.decode(column: "sealed_body", as: Data?.self) else { return "" }
                    let opened = try cipher.openBytes(
                        sealed, table: "meridian_idempotency", column: "sealed_body",
                        rowID: try row.decode(column: "row_id", as: String.self))
                    return String(decoding: opened, as: UTF8.self)
                }
            }
            #expect(!kept.isEmpty, "the refusal is what the idempotency layer keeps")
            #expect(!kept.contains { $0.contains(key.secret) || $0.contains(WriteKey.secretPrefix) })
        }
    }

    @Test(arguments: TestDatabase.engines)
    func oversizeSegmentBatchesGet413(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            let key = try await harness.writeKey()
            let batch = (0...BatchLimits.maxEvents).map { _ in Self.message("track", user: "u", extra: ["event": "x"]) }
            let response = try await harness.anonymous.execute(
                uri: "/v1/batch", method: .post, headers: Self.basic(key.secret), body: try jsonBody(["batch": batch]))
            #expect(response.status == .contentTooLarge)
        }
    }
}
