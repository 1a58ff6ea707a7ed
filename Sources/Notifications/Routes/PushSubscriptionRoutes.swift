import Crypto
import Foundation
import Hummingbird
import MeridianKit

/// `/api/push-subscriptions`: the browsers (Push API subscriptions) a user receives Web Push on, and the VAPID
/// public key a browser needs to subscribe.
struct PushSubscriptionRoutes: Sendable {
    let database: any Database
    let store: PushSubscriptionStore
    let keys: VAPIDKeyStore
    let audit: AuditLog
    /// Plain `http://` endpoints on loopback, for test push services only.
    let allowLoopbackHTTP: Bool

    func register(on router: Router<MeridianRequestContext>) {
        router.get("/api/push-subscriptions/vapid-public-key") { _, _ in try await publicKey() }
        router.post("/api/push-subscriptions") { request, context in try await create(request, context) }
        router.get("/api/push-subscriptions") { request, context in try await list(request, context) }
        router.delete("/api/push-subscriptions/:id") { _, context in try await delete(context) }
    }

    func publicKey() async throws -> Response {
        let key = try await keys.key()
        return try Response.json(["public_key": key.publicKey.x963Representation.base64URLEncodedString])
    }

    /// Validates an endpoint: an absolute `https` URL with a host (or `http` on loopback when allowed).
    func endpointProblem(_ endpoint: String) -> String? {
        guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty,
            url.user == nil, url.password == nil
        else { return "must be an absolute URL" }
        if scheme == "https" { return nil }
        let loopback = ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased())
        if scheme == "http", allowLoopbackHTTP, loopback { return nil }
        return "must be an https URL"
    }

    func create(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        let access = try NotificationAccess(context)
        var body = try await request.fieldReader(context: context)
        let endpoint = body.string("endpoint", maxLength: 2048)
        if let endpoint, let problem = endpointProblem(endpoint) { body.fail("endpoint", problem) }
        let keysRead = body.object("keys") { keys -> (Data, Data)? in
            let p256dh = keys.string("p256dh", maxLength: 200)
            let auth = keys.string("auth", maxLength: 100)
            var decodedKey: Data?
            var decodedAuth: Data?
            if let p256dh {
                if let raw = Data(base64URLEncoded: p256dh), raw.count == 65,
                    (try? P256.KeyAgreement.PublicKey(x963Representation: raw)) != nil
                {
                    decodedKey = raw
                } else {
                    keys.fail("p256dh", "must be an uncompressed P-256 public key, base64url")
                }
            }
            if let auth {
                if let raw = Data(base64URLEncoded: auth), raw.count == 16 { decodedAuth = raw } else {
                    keys.fail("auth", "must be 16 bytes, base64url")
                }
            }
            guard let decodedKey, let decodedAuth else { return nil }
            return (decodedKey, decodedAuth)
        }
        // What a browser's PushSubscription.toJSON() carries besides; accepted and not kept.
        switch body.raw("expirationTime") {
        case nil, .integer?, .number?: break
        default: body.fail("expirationTime", "must be a number or null")
        }
        let requestedUser = body.optionalString("user_id", maxLength: 64)
        try body.finish()
        var owner = access.principal.subject
        if let requestedUser {
            guard access.write == .all, Identifier.isWellFormed(requestedUser, prefix: "usr") else {
                throw Problem.validation([FieldError(field: "user_id", message: "only an administrator may name another user")])
            }
            owner = requestedUser
        }
        return try await store(owner: owner, endpoint!, keysRead!, context)
    }

    private func store(owner: String, _ endpoint: String, _ keys: (Data, Data), _ context: MeridianRequestContext) async throws -> Response {
        let subscription = PushSubscription(
            id: Identifier.make(prefix: "psub"), userID: owner, endpoint: endpoint, p256dh: keys.0, auth: keys.1,
            createdAt: Date())
        let (stored, existing) = try await database.transaction { sql -> (PushSubscription, Bool) in
            guard let (stored, existing) = try await store.insert(subscription, on: sql) else {
                throw Problem.conflict("This endpoint is subscribed for another user.")
            }
            if !existing {
                try await audit.append(
                    AuditEvent(action: "push_subscription.create", resourceType: "push_subscription", resourceID: stored.id,
                               changes: .object(["user_id": .string(owner)])),
                    actor: AuditActor(context: context), on: sql)
            }
            return (stored, existing)
        }
        return try Response.json(
            PushSubscriptionResource(stored), status: existing ? .ok : .created,
            headers: [.location: "/api/push-subscriptions/\(stored.id)"])
    }

    func list(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        let access = try NotificationAccess(context)
        var query = QueryReader(request, known: PageRequest.parameters.union(["user_id"]))
        let userID = query.string("user_id", maxLength: 64)
        let page = PageRequest(reading: &query)
        try query.finish()
        let owner: String?
        switch access.read {
        case .all: owner = userID
        case .own(let subject):
            if let userID, userID != subject { return try Response.json(Page<PushSubscriptionResource>(data: [], nextCursor: nil)) }
            owner = subject
        case .none: throw Problem(.forbidden, detail: "The access token does not allow reading subscriptions.")
        }
        let found = try await store.subscriptions(userID: owner, page: page)
        return try Response.json(page.page(found.map(PushSubscriptionResource.init), id: \.id))
    }

    func delete(_ context: MeridianRequestContext) async throws -> Response {
        let access = try NotificationAccess(context)
        let notFound = Problem.notFound("The push subscription")
        guard let id = context.parameters.get("id"), Identifier.isWellFormed(id, prefix: "psub"),
            let subscription = try await store.subscription(id: id)
        else { throw notFound }
        try access.write.authorize(owner: subscription.userID, notFound: notFound)
        try await database.transaction { sql in
            guard try await PushSubscriptionStore.delete(id: id, on: sql) else { throw notFound }
            try await audit.append(
                AuditEvent(action: "push_subscription.delete", resourceType: "push_subscription", resourceID: id),
                actor: AuditActor(context: context), on: sql)
        }
        return Response(status: .noContent)
    }
}

/// A subscription as the API shows it: never its keys.
struct PushSubscriptionResource: Encodable, Sendable {
    let id: String
    let userID: String
    let endpoint: String
    let createdAt: Date

    init(_ subscription: PushSubscription) {
        id = subscription.id
        userID = subscription.userID
        endpoint = subscription.endpoint
        createdAt = subscription.createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, userID = "user_id", endpoint, createdAt = "created_at"
    }
}
