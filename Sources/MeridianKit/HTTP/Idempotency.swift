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
/// in between, the reservation expires after `lease` and the key can be used again. The kept response body is
/// ciphertext under the service's data key (it holds what the caller sent, e.g. names and addresses).
public struct IdempotencyMiddleware: RouterMiddleware {
    public typealias Context = MeridianRequestContext

    let database: any Database
    let cipher: FieldCipher
    let lease: Duration
    let retention: Duration

    public init(
        database: any Database, cipher: FieldCipher, lease: Duration = .seconds(60), retention: Duration = .seconds(86_400)
    ) {
        self.database = database
        self.cipher = cipher
        self.lease = lease
        self.retention = retention
    }

    static let table = "meridian_idempotency"

    /// The table this middleware keeps its records in; every service's migrations include it, then `sealing`.
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

    /// The kept body becomes ciphertext bound to a row id (the AAD and the key-rotation cursor need one). The
    /// plaintext column is dropped: a key completed before the upgrade replays its status and headers with an
    /// empty body for the rest of its 24 hours, rather than running its request twice.
    public static let sealing = Migration("idempotency_sealed_body", ciphertextStatements: { ciphertext in
        [
            "ALTER TABLE meridian_idempotency ADD COLUMN row_id TEXT",
            "ALTER TABLE meridian_idempotency ADD COLUMN sealed_body \(ciphertext)",
            "CREATE UNIQUE INDEX meridian_idempotency_row ON meridian_idempotency (row_id)",
            "ALTER TABLE meridian_idempotency DROP COLUMN body",
        ]
    })

    /// For the key-rotation job.
    public static let encryptedColumns = [EncryptedColumn(table: table, column: "sealed_body", idColumn: "row_id")]

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
        let hash = hasher.finalize().hexString
        let scope = IdempotencyMiddleware.scope(request, context)
        let rowID: String
        switch try await reserve(scope: scope, key: key, hash: hash) {
        case .replay(let response): return response
        case .reserved(let id): rowID = id
        }

        var forwarded = request
        forwarded.body = .init(buffer: body)
        let response: Response
        do {
            response = try await next(forwarded, context)
        } catch let problem as Problem {
            _ = try await complete(scope: scope, key: key, rowID: rowID, response: problem.makeResponse())
            throw problem
        } catch {
            try? await release(scope: scope, key: key)
            throw error
        }
        return try await complete(scope: scope, key: key, rowID: rowID, response: response)
    }

    /// Keys belong to the caller: another principal reusing a key must not receive this caller's response. A
    /// caller without a verified token (self-registration, write-key routes, which check their credential in the
    /// handler) is scoped by a digest of the credential it sent, so a replay needs the same credential.
    static func scope(_ request: Request, _ context: Context) -> String {
        if let subject = context.principal?.subject { return subject }
        guard let authorization = request.headers[.authorization] else { return "-" }
        return "anonymous:" + SHA256.hash(data: Array(authorization.utf8)).hexString
    }

    enum Reservation {
        case replay(Response)
        case reserved(rowID: String)
    }

    /// Reserves the key, or returns what the key already stands for.
    private func reserve(scope: String, key: String, hash: String) async throws -> Reservation {
        let now = Timestamp.micros(Date())
        let leaseMicros = lease.components.seconds * 1_000_000
        return try await database.transaction { sql -> Reservation in
            if Int.random(in: 0..<200) == 0 {
                try await sql.delete(from: "meridian_idempotency")
                    .where("created_at", .lessThan, SQLBind(now - retention.components.seconds * 1_000_000)).run()
            }
            let row = try await sql.select().column("*").from("meridian_idempotency")
                .where("scope", .equal, SQLBind(scope)).where("key", .equal, SQLBind(key)).first()
            guard let row else {
                let rowID = Identifier.make(prefix: "idm")
                try await sql.insert(into: "meridian_idempotency")
                    .columns("scope", "key", "row_id", "request_hash", "state", "created_at")
                    .values(SQLBind(scope), SQLBind(key), SQLBind(rowID), SQLBind(hash), SQLBind("running"), SQLBind(now))
                    .run()
                return .reserved(rowID: rowID)
            }
            guard try row.decode(column: "request_hash", as: String.self) == hash else {
                throw Problem(
                    .unprocessableContent, type: Problem.typeBase + "idempotency-key-reused",
                    title: "Idempotency-Key reused",
                    detail: "This Idempotency-Key was used with a different request; use a new key for a new request.")
            }
            if try row.decode(column: "state", as: String.self) == "done" {
                return .replay(try replay(row))
            }
            guard try row.decode(column: "created_at", as: Int64.self) < now - leaseMicros else {
                throw Problem(
                    .conflict, type: Problem.typeBase + "idempotent-request-in-progress",
                    title: "Request in progress",
                    detail: "A request with this Idempotency-Key is still being processed; retry shortly.",
                    headers: [.retryAfter: "1"])
            }
            // The holder of an expired reservation died: take it over.
            let rowID = try row.decode(column: "row_id", as: String?.self) ?? Identifier.make(prefix: "idm")
            try await sql.update("meridian_idempotency").set("created_at", to: SQLBind(now))
                .set("row_id", to: SQLBind(rowID))
                .where("scope", .equal, SQLBind(scope)).where("key", .equal, SQLBind(key)).run()
            return .reserved(rowID: rowID)
        }
    }

    private func complete(scope: String, key: String, rowID: String, response: Response) async throws -> Response {
        guard IdempotencyMiddleware.isFinal(response.status.code) else {
            try await release(scope: scope, key: key)
            return response
        }
        var response = response
        let body = try await ResponseCollector.collect(response.body)
        response.body = .init(byteBuffer: body)
        let sealed = try cipher.sealBytes(body.readableBytesView, table: Self.table, column: "sealed_body", rowID: rowID)
        try await database.transaction { sql in
            try await sql.update("meridian_idempotency")
                .set("state", to: SQLBind("done"))
                .set("status", to: SQLBind(response.status.code))
                .set("content_type", to: SQLBind(response.headers[.contentType]))
                .set("location", to: SQLBind(response.headers[.location]))
                .set("etag", to: SQLBind(response.headers[.eTag]))
                .set("sealed_body", to: SQLBind(sealed))
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

    func replay(_ row: any SQLRow) throws -> Response {
        var headers: HTTPFields = [.idempotentReplayed: "true"]
        if let type = try row.decode(column: "content_type", as: String?.self) { headers[.contentType] = type }
        if let location = try row.decode(column: "location", as: String?.self) { headers[.location] = location }
        if let etag = try row.decode(column: "etag", as: String?.self) { headers[.eTag] = etag }
        let status = try row.decode(column: "status", as: Int.self)
        var body = ByteBuffer()
        if let sealed = try row.decode(column: "sealed_body", as: Data?.self),
            let rowID = try row.decode(column: "row_id", as: String?.self)
        {
            body.writeBytes(try cipher.openBytes(sealed, table: Self.table, column: "sealed_body", rowID: rowID))
        }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: body))
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
