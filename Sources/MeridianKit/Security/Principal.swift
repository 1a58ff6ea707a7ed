import Foundation

/// Who is making a request, as proven by a verified access token. Set on `MeridianRequestContext.principal`
/// by `AccessControlMiddleware`.
public struct Principal: Sendable, Equatable {
    /// The user id (`usr_…`), or the client id for client credentials.
    public var subject: String
    /// The OAuth client that obtained the token.
    public var clientID: String
    public var roles: Set<String>
    public var permissions: Set<Permission>
    public var scopes: Set<String>
    /// The token's `jti`.
    public var tokenID: String
    public var expiresAt: Date

    public init(
        subject: String, clientID: String, roles: Set<String>, permissions: Set<Permission>, scopes: Set<String>,
        tokenID: String, expiresAt: Date
    ) {
        self.subject = subject
        self.clientID = clientID
        self.roles = roles
        self.permissions = permissions
        self.scopes = scopes
        self.tokenID = tokenID
        self.expiresAt = expiresAt
    }

    /// The principal a verified token names.
    public init(claims: AccessTokenClaims) {
        self.init(
            subject: claims.sub.value, clientID: claims.clientID, roles: Set(claims.roles),
            permissions: Set(claims.permissions), scopes: claims.scopes, tokenID: claims.jti.value,
            expiresAt: claims.exp.value)
    }

    public func has(_ permission: Permission) -> Bool { permissions.contains(permission) }

    public func hasAny(_ permissions: some Sequence<Permission>) -> Bool {
        permissions.contains { self.permissions.contains($0) }
    }
}
