import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SQLKit

/// `Idempotency-Key` on every POST: the same key with the same request replays the first response; the same
/// key with a different request is 422; a request still running under the key is 409. 5xx and transient 4xx
/// outcomes (409, 412, 429, …) are not kept, so they can be retried with the same key. Keys live 24 hours.
///
/// The key is reserved in one transaction before the handler runs and completed after it: if the process dies
/// in between, the reservation expires after `lease` and the key can be used again.
public struct IdempotencyMiddleware: RouterMiddleware {
    public typealias Context = MeridianRequestContext

    let database: any Database
    let lease: Duration
    let retention: Duration

    public init(database: any Database, lease: Duration = .seconds(60), retention: Duration = .seconds(86_400)) {
        self.database = database
        self.lease = lease
        self.retention = retention
    }

    /// The table this middleware keeps its records in; every service's migrations include it.
    public static let migration = Migration(
        "idempotency_keys",
        statements: [
            """
            CREATE TABLE meridian_idempotency (
                scope TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, state TEXT NOT NULL,
                status INTEGER, content_type TEXT, location TEXT, etag TEXT, body TEXT,
                created_at BIGINT NOT NULL, PRIMARY KEY (scope, key))
            """,
            "CREATE INDEX meridian_idempotency_created ON meridian_idempotency (created_at)",
        ])

    /// Outcomes worth replaying. Server errors and the answers that depend on a passing state (a conflicting
    /// request in flight, a stale precondition, a rate limit) are forgotten, so a retry with the same key runs again.
    static func isFinal(_ status: Int) -> Bool {
        status < 500 && ![408, 409, 412, 423, 425, 429].contains(status)
    }

    static func isValidKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= 255 && key.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard request.method == .post, let key = request.headers[.idempotencyKey] else {
            return try await next(request, context)
        }
        guard IdempotencyMiddleware.isValidKey(key) else {
            throw Problem(.badRequest, detail: "Idempotency-Key must be 1 to 255 printable ASCII characters.")
        }
        let body = try await request.collectBody(context: context)
        var hasher = SHA256()
        hasher.update(data: Array(request.method.rawValue.utf8))
        hasher.update(data: Array(request.uri.description.utf8))
        hasher.update(data: [0])
        // Equal JSON documents hash alike whatever their key order or spacing; other bodies hash as bytes.
        if let document = try? JSONValue.parse(body.readableBytesView) {
            hasher.update(data: document.serialized())
        } else {
            hasher.update(data: Array(body.readableBytesView))
        }
        let hash = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        // Keys belong to the caller: another principal reusing a key must not receive this caller's response.
        let scope = context.principal?.subject ?? "-"

        if let replay = try await reserve(scope: scope, key: key, hash: hash) { return replay }

        var forwarded = request
        forwarded.body = .init(buffer: body)
        let response: Response
        do {
            response = try await next(forwarded, context)
        } catch let problem as Problem {
            _ = try await complete(scope: scope, key: key, response: problem.makeResponse())
            throw problem
        } catch {
            try? await release(scope: scope, key: key)
            throw error
        }
        return try await complete(scope: scope, key: key, response: response)
    }

    /// Reserves the key, or returns what the key already stands for.
    private func reserve(scope: String, key: String, hash: String) async throws -> Response? {
        let now = Timestamp.micros(Date())
        let leaseMicros = lease.components.seconds * 1_000_000
        return try await database.transaction { sql -> Response? in
            if Int.random(in: 0..<200) == 0 {
                try await sql.delete(from: "meridian_idempotency")
                    .where("created_at", .lessThan, SQLBind(now - retention.components.seconds * 1_000_000)).run()
            }
            let row = try await sql.select().column("*").from("meridian_idempotency")
                .where("scope", .equal, SQLBind(scope)).where("key", .equal, SQLBind(key)).first()
            guard let row else {
                try await sql.insert(into: "meridian_idempotency")
                    .columns("scope", "key", "request_hash", "state", "created_at")
                    .values(SQLBind(scope), SQLBind(key), SQLBind(hash), SQLBind("running"), SQLBind(now)).run()
                return nil
            }
            guard try row.decode(column: "request_hash", as: String.self) == hash else {
                throw Problem(
                    .unprocessableContent, type: Problem.typeBase + "idempotency-key-reused",
                    title: "Idempotency-Key reused",
                    detail: "This Idempotency-Key was used with a different request; use a new key for a new request.")
            }
            if try row.decode(column: "state", as: String.self) == "done" {
                return try IdempotencyMiddleware.replay(row)
            }
            guard try row.decode(column: "created_at", as: Int64.self) < now - leaseMicros else {
                throw Problem(
                    .conflict, type: Problem.typeBase + "idempotent-request-in-progress",
                    title: "Request in progress",
                    detail: "A request with this Idempotency-Key is still being processed; retry shortly.",
                    headers: [.retryAfter: "1"])
            }
            // The holder of an expired reservation died: take it over.
            try await sql.update("meridian_idempotency").set("created_at", to: SQLBind(now))
                .where("scope", .equal, SQLBind(scope)).where("key", .equal, SQLBind(key)).run()
            return nil
        }
    }

    private func complete(scope: String, key: String, response: Response) async throws -> Response {
        guard IdempotencyMiddleware.isFinal(response.status.code) else {
            try await release(scope: scope, key: key)
            return response
        }
        var response = response
        let body = try await ResponseCollector.collect(response.body)
        response.body = .init(byteBuffer: body)
        try await database.transaction { sql in
            try await sql.update("meridian_idempotency")
                .set("state", to: SQLBind("done"))
                .set("status", to: SQLBind(response.status.code))
                .set("content_type", to: SQLBind(response.headers[.contentType]))
                .set("location", to: SQLBind(response.headers[.location]))
                .set("etag", to: SQLBind(response.headers[.eTag]))
                .set("body", to: SQLBind(String(buffer: body)))
                .where("scope", .equal, SQLBind(scope)).where("key", .equal, SQLBind(key)).run()
        }
        return response
    }

    private func release(scope: String, key: String) async throws {
        try await database.transaction { sql in
            try await sql.delete(from: "meridian_idempotency")
                .where("scope", .equal, SQLBind(scope)).where("key", .equal, SQLBind(key)).run()
        }
    }

    static func replay(_ row: any SQLRow) throws -> Response {
        var headers: HTTPFields = [.idempotentReplayed: "true"]
        if let type = try row.decode(column: "content_type", as: String?.self) { headers[.contentType] = type }
        if let location = try row.decode(column: "location", as: String?.self) { headers[.location] = location }
        if let etag = try row.decode(column: "etag", as: String?.self) { headers[.eTag] = etag }
        let status = try row.decode(column: "status", as: Int.self)
        let body = try row.decode(column: "body", as: String?.self) ?? ""
        return Response(
            status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Collects a response body into one buffer (responses Meridian keeps are small JSON documents).
enum ResponseCollector {
    final class Sink: @unchecked Sendable {
        // Only touched by the one writer below, sequentially, inside `collect`'s single await.
        var buffer = ByteBuffer()
    }

    struct Writer: ResponseBodyWriter {
        let sink: Sink
        mutating func write(_ buffer: ByteBuffer) async throws {
            var buffer = buffer
            sink.buffer.writeBuffer(&buffer)
        }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    static func collect(_ body: ResponseBody) async throws -> ByteBuffer {
        let sink = Sink()
        try await body.write(Writer(sink: sink))
        return sink.buffer
    }
}
