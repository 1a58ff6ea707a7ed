import Foundation
import MeridianKit
import SQLKit

/// Makes the tokens of a grant and records them, inside the caller's transaction, so that tokens exist only
/// if the redemption that produced them committed.
struct TokenMinter: Sendable {
    let settings: AuthorizationServerSettings

    /// The subject and what it may do, as of now.
    struct Grant: Sendable {
        let subject: String
        let clientID: String
        let scopes: [String]
        let roles: [String]
        let permissions: Set<Permission>
        /// The family a code started; nil for client credentials, which have no refresh token.
        let familyID: String?
    }

    /// The token response (RFC 6749 section 5.1).
    struct Tokens: Encodable, Sendable {
        let accessToken: String
        let tokenType = "Bearer"
        let expiresIn: Int
        let scope: String
        let refreshToken: String?

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case tokenType = "token_type"
            case expiresIn = "expires_in"
            case scope
            case refreshToken = "refresh_token"
        }
    }

    /// Signs an access token and, when `refresh` is given, a new refresh token of the grant's family.
    func mint(
        _ grant: Grant, signer: TokenSigner, refresh: (codeHash: String?, scopes: [String])?, now: Date,
        _ sql: any SQLDatabase
    ) async throws -> Tokens {
        let issuedAt = Timestamp.date(micros: Timestamp.micros(now))
        let expiresAt = issuedAt.addingTimeInterval(settings.accessTokenLifetime)
        let jti = Identifier.make(prefix: GrantIdentifier.tokenPrefix, now: issuedAt)
        let claims = AccessTokenClaims(
            issuer: settings.issuer, subject: grant.subject, issuedAt: issuedAt, expiresAt: expiresAt, tokenID: jti,
            clientID: grant.clientID, scope: Scope.join(grant.scopes), roles: grant.roles.sorted(),
            permissions: grant.permissions.sorted())
        let accessToken = try await signer.sign(claims)
        try await GrantStore.insert(
            IssuedAccessToken(
                jti: jti, familyID: grant.familyID, clientID: grant.clientID, subject: grant.subject,
                issuedAt: issuedAt, expiresAt: expiresAt),
            sql)

        var refreshToken: String?
        if let refresh, let familyID = grant.familyID {
            let token = OpaqueToken.make()
            try await GrantStore.insert(
                RefreshToken(
                    tokenHash: OpaqueToken.hash(token), familyID: familyID, codeHash: refresh.codeHash,
                    clientID: grant.clientID, userID: grant.subject, scope: Scope.join(refresh.scopes),
                    createdAt: issuedAt, expiresAt: issuedAt.addingTimeInterval(settings.refreshTokenLifetime)),
                sql)
            refreshToken = token
        }
        return Tokens(
            accessToken: accessToken, expiresIn: Int(settings.accessTokenLifetime), scope: claims.scope,
            refreshToken: refreshToken)
    }
}
