import Foundation
import Hummingbird
import MeridianKit

/// `/api/analytics/write-keys`: create (the secret is shown once), list and revoke Segment write keys. Creating
/// and revoking are audited in their transaction.
struct WriteKeyRoutes: Sendable {
    let database: any Database
    let store: WriteKeyStore
    let audit: AuditLog

    func register(on router: Router<MeridianRequestContext>) {
        router.post("/api/analytics/write-keys") { request, context in try await create(request, context) }
        router.get("/api/analytics/write-keys") { request, _ in try await list(request) }
        router.delete("/api/analytics/write-keys/:id") { _, context in try await revoke(context) }
    }

    func create(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        // A replay would hand the secret out a second time, and keeping the answer to replay would store the
        // secret itself, where only its hash may be kept. The refusal is what the idempotency layer keeps.
        if request.headers[.idempotencyKey] != nil { throw Problem.writeKeyNotIdempotent }
        // No fields yet; an empty body or `{}` is accepted and anything else is reported, so that fields can be
        // added later without a client's typo going unnoticed.
        if request.headers[.contentLength].flatMap(Int.init) ?? 0 > 0 || request.headers[.transferEncoding] != nil {
            var body = try await request.fieldReader(context: context)
            try body.finish()
        }
        let principal = try context.requirePrincipal()
        let secret = WriteKey.generate()
        let key = WriteKey(
            id: Identifier.make(prefix: "wk"), prefix: String(secret.prefix(WriteKey.secretPrefix.count + 6)),
            createdAt: Date(), createdBy: principal.subject, revokedAt: nil)
        try await database.transaction { sql in
            try await store.insert(key, secretHash: WriteKey.hash(secret), on: sql)
            try await audit.append(
                AuditEvent(action: "write_key.create", resourceType: "write_key", resourceID: key.id),
                actor: AuditActor(context: context), on: sql)
        }
        return try Response.json(
            CreatedWriteKey(key: key, secret: secret), status: .created,
            headers: [.location: "/api/analytics/write-keys/\(key.id)", .cacheControl: "no-store"])
    }

    func list(_ request: Request) async throws -> Response {
        var query = QueryReader(request, known: PageRequest.parameters)
        let page = PageRequest(reading: &query)
        try query.finish()
        return try Response.json(page.page(try await store.list(page), id: \.id))
    }

    func revoke(_ context: MeridianRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let found = try await database.transaction { sql -> Bool in
            guard let key = try await store.revoke(id: id, at: Date(), on: sql) else { return false }
            try await audit.append(
                AuditEvent(action: "write_key.revoke", resourceType: "write_key", resourceID: key.id),
                actor: AuditActor(context: context), on: sql)
            return true
        }
        guard found else { throw Problem.notFound("The write key") }
        return Response(status: .noContent)
    }
}

/// The answer to a creation: the key's record and, this once, its secret.
struct CreatedWriteKey: Encodable, Sendable {
    var key: WriteKey
    var secret: String

    enum CodingKeys: String, CodingKey { case key = "write_key", secret }
}

extension Problem {
    static let writeKeyNotIdempotent = Problem(
        .badRequest, type: Problem.typeBase + "idempotency-key-not-accepted", title: "Idempotency-Key not accepted",
        detail: "Creating a write key is not idempotent: a replay would reveal its secret again. Send no Idempotency-Key; "
            + "if the answer was lost, revoke the key it made and create another.")
}
