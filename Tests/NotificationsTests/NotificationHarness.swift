import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import NIOCore
import Synchronization
import Testing

@testable import Notifications

/// A recipient directory with fixed addresses: the users service's answer, without the users service.
struct FixedDirectory: RecipientDirectory {
    let addresses: [String: String]
    func emailAddress(userID: String) async throws -> String? { addresses[userID] }
}

/// Builds the service for route and delivery tests: no background worker (tests drive the queue with
/// `runOnce`), loopback push endpoints allowed, no SMTP.
struct NotificationHarness {
    let tokens: TestTokens
    let service: NotificationsService

    init(_ engine: DatabaseEngine, retry: RetryPolicy = RetryPolicy()) async throws {
        tokens = await TestTokens.make()
        var logger = Logger(label: "notifications-test")
        logger.logLevel = .warning
        service = try NotificationsService(
            settings: NotificationsServiceTests.settings(engine), logger: logger, verifier: tokens.verifier,
            notifications: NotificationSettings(retry: retry, concurrency: 0, allowLoopbackHTTPPush: true),
            tokens: nil, directory: FixedDirectory(addresses: [:]), pushClient: HTTPClientHolder.client)
    }

    func token(_ role: BuiltInRole, _ subject: String = Identifier.make(prefix: "usr")) async throws -> String {
        try await tokens.token(role, subject: subject)
    }

    static func body(_ json: String) -> ByteBuffer { ByteBuffer(string: json) }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] ?? [:]
    }

    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]
}

enum HTTPClientHolder {
    static let client = ServiceClient.internalClient
}

extension TestClientProtocol {
    func call(
        _ method: HTTPRequest.Method, _ uri: String, token: String?, body: String? = nil, headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var fields = headers
        if let token { fields[.authorization] = "Bearer \(token)" }
        if body != nil { fields[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: fields, body: body.map { ByteBuffer(string: $0) })
    }
}

/// A push service on loopback: records what it receives and answers with the scripted status.
final class LoopbackPushService: Sendable {
    struct Received: Sendable {
        var headers: HTTPFields
        var body: Data
    }

    private let state = Mutex<(received: [Received], answers: [(Int, String?)])>(([], []))

    func script(_ answers: [(Int, String?)]) { state.withLock { $0.answers = answers } }
    var received: [Received] { state.withLock { $0.received } }

    func application() -> some ApplicationProtocol {
        let router = Router()
        router.post("/push/:id") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 16)
            let (status, retryAfter) = self.state.withLock { state -> (Int, String?) in
                state.received.append(Received(headers: request.headers, body: Data(body.readableBytesView)))
                return state.answers.isEmpty ? (201, nil) : state.answers.removeFirst()
            }
            var headers: HTTPFields = [:]
            if let retryAfter { headers[.retryAfter] = retryAfter }
            return Response(status: .init(code: status), headers: headers)
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }
}
