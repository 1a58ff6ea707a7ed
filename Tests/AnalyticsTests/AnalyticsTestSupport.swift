import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import NIOCore
import Testing

@testable import Analytics

/// A running analytics service on a fresh database, with the handles tests need.
struct AnalyticsHarness: Sendable {
    /// Sends every request as an administrator (every permission).
    let client: BearerClient
    /// Sends requests without a token.
    let anonymous: any TestClientProtocol
    let tokens: TestTokens
    let service: AnalyticsService

    func client(as role: BuiltInRole, subject: String = Identifier.make(prefix: "usr")) async throws -> BearerClient {
        BearerClient(anonymous, token: try await tokens.token(role, subject: subject))
    }

    /// Posts a batch to `POST /api/analytics/events` as the administrator.
    func send(_ events: [[String: Any]], sentAt: String? = nil) async throws -> TestResponse {
        var body: [String: Any] = ["events": events]
        if let sentAt { body["sent_at"] = sentAt }
        return try await client.execute(
            uri: "/api/analytics/events", method: .post, headers: jsonHeaders, body: try jsonBody(body))
    }

    func get(_ uri: String) async throws -> [String: Any] {
        let response = try await client.execute(uri: uri, method: .get)
        #expect(response.status == .ok, "\(uri): \(String(buffer: response.body))")
        return try object(response)
    }

    /// Creates a Segment write key and answers its secret.
    func writeKey() async throws -> (id: String, secret: String) {
        let response = try await client.execute(uri: "/api/analytics/write-keys", method: .post)
        #expect(response.status == .created)
        let body = try object(response)
        let key = try #require(body["write_key"] as? [String: Any])
        return (try #require(key["id"] as? String), try #require(body["secret"] as? String))
    }
}

func withAnalyticsService<T: Sendable>(
    _ engine: DatabaseEngine, configuration: AnalyticsConfiguration = AnalyticsConfiguration(),
    _ test: @Sendable (AnalyticsHarness) async throws -> T
) async throws -> T {
    let tokens = await TestTokens.make()
    let admin = try await tokens.token(.admin, subject: Identifier.make(prefix: "usr"))
    let service = try AnalyticsService(
        settings: AnalyticsServiceTests.settings(engine), logger: quietLogger(), verifier: tokens.verifier,
        configuration: configuration)
    return try await service.makeApplication().test(.router) { client in
        do {
            let result = try await test(
                AnalyticsHarness(client: BearerClient(client, token: admin), anonymous: client, tokens: tokens, service: service))
            try await dropSchema(service)
            return result
        } catch {
            try? await dropSchema(service)
            throw error
        }
    }
}

func dropSchema(_ service: AnalyticsService) async throws {
    if let postgres = service.database as? PostgresDatabase { try await postgres.dropSchema() }
}

func quietLogger() -> Logger {
    var logger = Logger(label: "analytics-tests")
    logger.logLevel = .critical
    return logger
}

let jsonHeaders: HTTPFields = [.contentType: "application/json"]

func jsonBody(_ object: Any) throws -> ByteBuffer {
    ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
}

func object(_ response: TestResponse) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
}

func event(
    id: String = UUID().uuidString, name: String = "signup", user: String? = "usr_1", anonymous: String? = nil,
    timestamp: Date? = nil, properties: [String: Any]? = nil
) -> [String: Any] {
    var event: [String: Any] = ["id": id, "name": name]
    if let user { event["user_id"] = user }
    if let anonymous { event["anonymous_id"] = anonymous }
    if let timestamp { event["timestamp"] = Timestamp.format(timestamp) }
    if let properties { event["properties"] = properties }
    return event
}
