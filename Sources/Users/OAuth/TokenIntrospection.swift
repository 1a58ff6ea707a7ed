import Foundation
import HTTPTypes
import Hummingbird
import MeridianKit
import NIOCore

/// Revocation (RFC 7009) and introspection (RFC 7662). Refresh tokens are opaque and looked up by hash; access
/// tokens are JWTs, verified like any service would and then checked against the record of issued tokens,
/// which is where revocation lands.
struct TokenIntrospection: Sendable {
    let database: any Database
    let verifier: any AccessTokenVerifier
    let settings: AuthorizationServerSettings
    let now: @Sendable () -> Date
    /// Where revocations are recorded (`token.revoke`), in the revoking transaction.
    var audit: AuditLog? = nil

    /// Revokes `token` if it is a live token of `client`. Anything else (unknown, expired, another client's)
    /// is silently ignored: RFC 7009 section 2.2 answers 200 either way, which also reveals nothing.
    func revoke(_ token: String, client: OAuthClient) async throws {
        let now = now()
        if OpaqueToken.isWellFormed(token) {
            let hash = OpaqueToken.hash(token)
            try await database.transaction { sql in
                guard let stored = try await GrantStore.refreshToken(hash: hash, sql), stored.clientID == client.id
                else { return }
                // Revoking a refresh token ends its grant: its family and the access tokens issued from it.
                try await GrantStore.revokeFamily(stored.familyID, now: now, sql)
                try await audit?.append(
                    AuditEvent(
                        action: "token.revoke", resourceType: "token_family", resourceID: stored.familyID,
                        changes: .object(["token_type": .string("refresh_token"), "client_id": .string(client.id)])),
                    actor: (AuditActor.current ?? .system("users")).acting(as: client.id, clientID: client.id),
                    on: sql)
            }
            return
        }
        guard let principal = try? await verifier.verify(token), principal.clientID == client.id else { return }
        try await database.transaction { sql in
            try await GrantStore.revokeAccessToken(jti: principal.tokenID, now: now, sql)
            try await audit?.append(
                AuditEvent(
                    action: "token.revoke", resourceType: "access_token", resourceID: principal.tokenID,
                    changes: .object(["token_type": .string("access_token"), "subject": .string(principal.subject)])),
                actor: (AuditActor.current ?? .system("users")).acting(as: client.id, clientID: client.id),
                on: sql)
        }
    }

    /// The RFC 7662 answer for `token`: its claims when active, `{"active": false}` for anything else.
    func introspect(_ token: String) async throws -> JSONValue {
        let inactive = JSONValue.object(["active": .bool(false)])
        let now = now()
        if OpaqueToken.isWellFormed(token) {
            let hash = OpaqueToken.hash(token)
            guard let stored = try await database.read({ sql in try await GrantStore.refreshToken(hash: hash, sql) }),
                stored.usedAt == nil, stored.revokedAt == nil, stored.expiresAt > now
            else { return inactive }
            return .object([
                "active": .bool(true), "scope": .string(stored.scope), "client_id": .string(stored.clientID),
                "sub": .string(stored.userID), "iss": .string(settings.issuer),
                "exp": .integer(Int64(stored.expiresAt.timeIntervalSince1970)),
                "iat": .integer(Int64(stored.createdAt.timeIntervalSince1970)),
            ])
        }
        guard let principal = try? await verifier.verify(token),
            let record = try await database.read({ sql in try await GrantStore.accessToken(jti: principal.tokenID, sql) }),
            record.revokedAt == nil, record.expiresAt > now
        else { return inactive }
        let issuedAt = JSONValue.integer(Int64(record.issuedAt.timeIntervalSince1970))
        return .object([
            "active": .bool(true), "token_type": .string("Bearer"), "scope": .string(principal.scopes.sorted().joined(separator: " ")),
            "client_id": .string(principal.clientID), "sub": .string(principal.subject),
            "exp": .integer(Int64(principal.expiresAt.timeIntervalSince1970)), "iat": issuedAt, "nbf": issuedAt,
            "jti": .string(principal.tokenID), "iss": .string(settings.issuer), "aud": .string(AccessTokenClaims.audience),
            "roles": .array(principal.roles.sorted().map { .string($0) }),
        ])
    }

    static func json(_ value: JSONValue) -> Response {
        var headers = OAuthError.noStore
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.serialized())))
    }
}
