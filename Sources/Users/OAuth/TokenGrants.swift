import Foundation
import MeridianKit
import SQLKit

/// The grants of the token endpoint (RFC 6749 section 4): authorization code with PKCE, refresh token with
/// rotation, client credentials. Implicit and password grants do not exist here (RFC 9700 sections 2.1.2, 2.4).
struct TokenGrants: Sendable {
    let database: any Database
    let cipher: FieldCipher
    let users: SQLUserRepository
    let roles: any RoleRepository
    let keyring: SigningKeyring
    let minter: TokenMinter
    let settings: AuthorizationServerSettings
    let now: @Sendable () -> Date
    /// Where each grant's transaction records its `token.issue`, success or failure.
    var audit: AuditLog? = nil

    typealias Outcome = Result<TokenMinter.Tokens, OAuthError>

    // MARK: authorization_code

    func authorizationCode(_ form: FormEncoding.Fields, client: OAuthClient) async throws -> Outcome {
        guard client.allows(.authorizationCode) else {
            return .failure(OAuthError(.unauthorizedClient, "This client may not use the authorization_code grant."))
        }
        guard let code = form["code"], !code.isEmpty else { return .failure(OAuthError(.invalidRequest, "code is required.")) }
        guard let redirectURI = form["redirect_uri"], !redirectURI.isEmpty else {
            return .failure(OAuthError(.invalidRequest, "redirect_uri is required: send the one of the authorization request."))
        }
        let verifier = form["code_verifier"]
        if let verifier, !PKCE.isValidVerifier(verifier) {
            return .failure(OAuthError(.invalidRequest, "code_verifier must be 43 to 128 unreserved characters."))
        }
        let invalid = OAuthError(.invalidGrant, "The authorization code is invalid, expired or already used.")
        guard OpaqueToken.isWellFormed(code) else { return .failure(invalid) }
        let codeHash = OpaqueToken.hash(code)

        // Read first (outside the transaction) to know whose roles to load: slow work stays out of the write lock.
        guard let peek = try await database.read({ sql in try await GrantStore.code(hash: codeHash, cipher: cipher, sql) }) else {
            return .failure(invalid)
        }
        let subject = try await subjectGrant(userID: peek.userID)
        let signer = try await keyring.signer()
        let now = now()

        return try await auditedTransaction(grant: "authorization_code", clientID: client.id, subject: peek.userID) {
            sql -> Outcome in
            // From here on the code is spent, whatever the outcome: a code gets exactly one attempt.
            let stored: AuthorizationCode
            switch try await GrantStore.redeem(codeHash: codeHash, now: now, cipher: cipher, sql) {
            case nil: return .failure(invalid)
            case .alreadyUsed(let used)?:
                // RFC 6749 section 4.1.2 / RFC 9700 section 4.5: a replayed code means it leaked; everything issued
                // from it is revoked.
                try await GrantStore.revokeFamily(used.familyID, now: now, sql)
                return .failure(invalid)
            case .claimed(let claimed)?: stored = claimed
            }
            guard stored.expiresAt > now else { return .failure(invalid) }
            guard stored.clientID == client.id else { return .failure(invalid) }
            guard stored.redirectURI == redirectURI else {
                return .failure(OAuthError(.invalidGrant, "redirect_uri differs from the authorization request's."))
            }
            guard let challenge = stored.codeChallenge, stored.codeChallengeMethod == PKCE.method else {
                // RFC 9700 section 2.1.1: a verifier for a code issued without a challenge is a downgrade attempt,
                // and a code without PKCE is not redeemable at all.
                return .failure(OAuthError(.invalidGrant, "The authorization code was issued without PKCE."))
            }
            guard let verifier else { return .failure(OAuthError(.invalidGrant, "code_verifier is required.")) }
            guard PKCE.verify(verifier: verifier, challenge: challenge) else {
                return .failure(OAuthError(.invalidGrant, "code_verifier does not match the code_challenge."))
            }
            guard let subject, subject.subject == stored.userID else { return .failure(invalid) }
            let scopes = Scope.parse(stored.scope) ?? []
            let grant = subject.granting(clientID: client.id, scopes: scopes, familyID: stored.familyID)
            let refresh = client.allows(.refreshToken) ? (codeHash: Optional(codeHash), scopes: scopes) : nil
            return .success(try await minter.mint(grant, signer: signer, refresh: refresh, now: now, sql))
        }
    }

    // MARK: refresh_token

    func refreshToken(_ form: FormEncoding.Fields, client: OAuthClient) async throws -> Outcome {
        guard client.allows(.refreshToken) else {
            return .failure(OAuthError(.unauthorizedClient, "This client may not use the refresh_token grant."))
        }
        guard let token = form["refresh_token"], !token.isEmpty else {
            return .failure(OAuthError(.invalidRequest, "refresh_token is required."))
        }
        let invalid = OAuthError(.invalidGrant, "The refresh token is invalid, expired or revoked.")
        guard OpaqueToken.isWellFormed(token) else { return .failure(invalid) }
        let tokenHash = OpaqueToken.hash(token)
        guard let peek = try await database.read({ sql in try await GrantStore.refreshToken(hash: tokenHash, sql) }),
            peek.clientID == client.id
        else {
            // A token of another client is not spent: that client did not present it.
            return .failure(invalid)
        }
        let granted = Scope.parse(peek.scope) ?? []
        var scopes = granted
        if let scope = form["scope"], !scope.isEmpty {
            // RFC 6749 section 6: a narrower scope may be asked for, never a wider one.
            guard let requested = Scope.parse(scope), requested.allSatisfy(granted.contains) else {
                return .failure(OAuthError(.invalidScope, "scope may only narrow the original grant."))
            }
            scopes = requested
        }
        let subject = try await subjectGrant(userID: peek.userID)
        let signer = try await keyring.signer()
        let now = now()

        return try await auditedTransaction(grant: "refresh_token", clientID: client.id, subject: peek.userID) {
            sql -> Outcome in
            let stored: RefreshToken
            switch try await GrantStore.use(refreshHash: tokenHash, now: now, sql) {
            case nil: return .failure(invalid)
            case .alreadyUsed(let used)?:
                // RFC 9700 section 4.14.2: a rotated-out token presented again means two parties hold the family;
                // the server cannot tell which is legitimate, so the whole family goes.
                try await GrantStore.revokeFamily(used.familyID, now: now, sql)
                return .failure(invalid)
            case .claimed(let claimed)?: stored = claimed
            }
            if stored.revokedAt != nil { return .failure(invalid) }
            guard stored.expiresAt > now else { return .failure(invalid) }
            guard let subject, subject.subject == stored.userID else { return .failure(invalid) }
            let grant = subject.granting(clientID: client.id, scopes: scopes, familyID: stored.familyID)
            return .success(
                try await minter.mint(
                    grant, signer: signer, refresh: (codeHash: stored.codeHash, scopes: granted), now: now, sql))
        }
    }

    // MARK: client_credentials

    func clientCredentials(_ form: FormEncoding.Fields, client: ClientAuthenticator.Authenticated) async throws -> Outcome {
        guard client.withSecret, client.client.kind == .confidential, client.client.allows(.clientCredentials) else {
            return .failure(
                OAuthError(.unauthorizedClient, "client_credentials is only for confidential clients registered for it."))
        }
        var requested: [String]?
        if let scope = form["scope"], !scope.isEmpty {
            guard let parsed = Scope.parse(scope) else { return .failure(OAuthError(.invalidScope, "scope is malformed.")) }
            requested = parsed
        }
        guard let scopes = client.client.grantableScopes(requested) else {
            return .failure(OAuthError(.invalidScope, "The client may not ask for one of these scopes."))
        }
        let role = BuiltInRole.service
        let grant = TokenMinter.Grant(
            subject: client.client.id, clientID: client.client.id, scopes: scopes, roles: [role.rawValue],
            permissions: role.permissions, familyID: nil)
        let signer = try await keyring.signer()
        let now = now()
        return try await auditedTransaction(
            grant: "client_credentials", clientID: client.client.id, subject: client.client.id
        ) { sql in
            .success(try await minter.mint(grant, signer: signer, refresh: nil, now: now, sql))
        }
    }

    // MARK: Subjects

    /// A user's roles and the permissions they grant, read at issue time.
    struct Subject: Sendable {
        let subject: String
        let roles: [String]
        let permissions: Set<Permission>

        func granting(clientID: String, scopes: [String], familyID: String?) -> TokenMinter.Grant {
            TokenMinter.Grant(
                subject: subject, clientID: clientID, scopes: scopes, roles: roles, permissions: permissions,
                familyID: familyID)
        }
    }

    /// Nil when the account no longer exists: its grants die with it.
    func subjectGrant(userID: String) async throws -> Subject? {
        guard let user = try await users.find(id: userID) else { return nil }
        return Subject(subject: user.id, roles: user.roles, permissions: try await roles.permissions(of: user.roles))
    }
}
