import Foundation
import HTTPTypes
import MeridianKit
import NIOCore
import NIOHTTP1
import Testing

@testable import Gateway

/// The merged audit list takes each service's records in that service's own order, so paging through it shows
/// every record once even when one service's times run backwards (replicas' or an offline command's clock).
@Suite struct AuditTrailMergeTests {
    static func record(_ sequence: Int64, at seconds: TimeInterval) -> JSONValue {
        .object([
            "sequence": .integer(sequence),
            "time": .string(Timestamp.format(Date(timeIntervalSince1970: 1_790_000_000 + seconds))),
        ])
    }

    /// What the services hold; `page` answers as a service would for records after `position`.
    static let logs: [String: [JSONValue]] = [
        "users": [record(10, at: 5), record(11, at: 3), record(12, at: 9)],
        "orders": [record(1, at: 4), record(2, at: 6)],
    ]

    static func page(_ service: String, after position: Int64?, limit: Int) -> ServicePage {
        let rest = (logs[service] ?? []).filter {
            guard case .object(let members) = $0, case .integer(let sequence) = members["sequence"] else { return false }
            return sequence > (position ?? 0)
        }
        return ServicePage(service: service, records: Array(rest.prefix(limit)), hasMore: rest.count > limit)
    }

    /// Filters go to the services as the client wrote them, with only the bytes a URL cannot hold encoded.
    @Test func filtersArePassedOnEncodedAsNeeded() {
        #expect(AuditTrailRoute.escaped("actor=a\"b{\u{FC}}%20c+d") == "actor=a%22b%7B%C3%BC%7D%20c+d")
        #expect(AuditTrailRoute.escaped("from=2026-01-01T00:00:00Z") == "from=2026-01-01T00:00:00Z")
    }

    /// A service's refusal reaches the client with what tells it how to go on (the token challenge, the wait),
    /// and with none of the service's other headers.
    @Test func aRefusalIsPassedOnWithItsChallengeAndWait() throws {
        let challenge = #"Bearer error="invalid_token", error_description="The token was revoked.""#
        let headers: HTTPHeaders = [
            "WWW-Authenticate": challenge, "Retry-After": "7", "Set-Cookie": "internal=1", "X-Request-Id": "req_1",
        ]
        let body = ByteBuffer(string: #"{"status":401}"#)
        #expect {
            try ServicePage(ServiceClient.Reply(status: 401, headers: headers, body: body), service: "users")
        } throws: { error in
            guard let problem = error as? PassedOnProblem else { return false }
            return problem.status == .unauthorized && problem.body == body
                && problem.headers[values: .wwwAuthenticate] == [challenge]
                && problem.headers[values: .retryAfter] == ["7"]
                && problem.headers[.contentType] == "application/problem+json"
                && problem.headers[HTTPField.Name("Set-Cookie")!] == nil
                && problem.headers[HTTPField.Name("X-Request-Id")!] == nil
        }
        #expect(throws: Problem.self) {
            try ServicePage(ServiceClient.Reply(status: 500, headers: headers, body: body), service: "users")
        }
    }

    @Test(arguments: [1, 2, 3, 10])
    func pagingShowsEveryRecordOnce(limit: Int) throws {
        var positions: [String: Int64] = [:]
        var seen: [String] = []
        for _ in 0..<10 {
            let pages = ["users", "orders"].map { Self.page($0, after: positions[$0], limit: limit) }
            guard case .object(let body) = AuditTrailCursor.merge(pages, limit: limit, after: positions),
                case .array(let data) = body["data"]
            else { Issue.record("not a page"); return }
            #expect(data.count <= limit)
            for item in data {
                guard case .object(let members) = item, case .string(let service) = members["service"],
                    case .integer(let sequence) = members["sequence"]
                else { continue }
                seen.append("\(service).\(sequence)")
            }
            guard case .string(let cursor) = body["next_cursor"] else { break }
            positions = try #require(
                PageRequest.decodeCursor(cursor).flatMap { AuditTrailCursor.positions($0, services: ["users", "orders"]) })
        }
        #expect(seen.sorted() == ["orders.1", "orders.2", "users.10", "users.11", "users.12"])
        #expect(Set(seen).count == seen.count)
        // Within a service, its own order; across services, the older head first.
        #expect(seen == ["orders.1", "users.10", "users.11", "orders.2", "users.12"])
    }
}
