import Foundation
import MeridianKit

/// Registers OAuth clients, for the admin API and for `meridian admin create-client` alike, with one set of
/// rules: exact redirect URIs that cannot leak a code, scopes that are valid tokens, grant types that fit the
/// kind of client. A confidential client's secret is generated here and returned once; only its bcrypt hash
/// is kept.
struct ClientRegistration: Sendable {
    let clients: any ClientRepository
    let hasher: PasswordHasher

    struct Invalid: Error, CustomStringConvertible {
        let errors: [FieldError]
        var description: String { errors.map { "\($0.field) \($0.message)" }.joined(separator: "; ") }
    }

    static let maxRedirectURIs = 20

    /// Validates a registration; `grantTypes` nil means the usual ones for the kind.
    static func validate(
        name: String, kind: OAuthClient.Kind, redirectURIs: [String], scopes: [String]?,
        grantTypes: [OAuthClient.GrantType]?
    ) -> [FieldError] {
        var errors: [FieldError] = []
        if let problem = PersonName.problem(with: name) { errors.append(FieldError(field: "name", message: problem)) }
        if redirectURIs.count > maxRedirectURIs {
            errors.append(FieldError(field: "redirect_uris", message: "must have at most \(maxRedirectURIs) elements"))
        }
        for (index, uri) in redirectURIs.enumerated() {
            if let problem = RedirectURI.problem(with: uri) {
                errors.append(FieldError(field: "redirect_uris[\(index)]", message: problem))
            }
        }
        if Set(redirectURIs).count != redirectURIs.count {
            errors.append(FieldError(field: "redirect_uris", message: "must not repeat a URI"))
        }
        let scopes = scopes ?? Scope.defaultScopes
        if scopes.count > Scope.maxTokens {
            errors.append(FieldError(field: "allowed_scopes", message: "must have at most \(Scope.maxTokens) elements"))
        }
        for (index, scope) in scopes.enumerated() where !Scope.isValidToken(scope) {
            errors.append(
                FieldError(
                    field: "allowed_scopes[\(index)]",
                    message: "must be 1 to \(Scope.maxTokenLength) visible ASCII characters without spaces, quotes or backslashes"))
        }
        let grants = grantTypes ?? defaultGrantTypes(kind)
        if let problem = OAuthClient.problem(kind: kind, grantTypes: grants, redirectURIs: redirectURIs) {
            errors.append(FieldError(field: problem.field, message: problem.message))
        }
        return errors
    }

    static func defaultGrantTypes(_ kind: OAuthClient.Kind) -> [OAuthClient.GrantType] {
        kind == .public ? [.authorizationCode, .refreshToken] : [.clientCredentials]
    }

    func register(
        name: String, kind: OAuthClient.Kind, redirectURIs: [String], scopes: [String]?,
        grantTypes: [OAuthClient.GrantType]?, now: Date = Date()
    ) async throws -> RegisteredClient {
        let errors = ClientRegistration.validate(
            name: name, kind: kind, redirectURIs: redirectURIs, scopes: scopes, grantTypes: grantTypes)
        guard errors.isEmpty else { throw Invalid(errors: errors) }
        let createdAt = Timestamp.date(micros: Timestamp.micros(now))
        let client = OAuthClient(
            id: Identifier.make(prefix: OAuthClient.idPrefix, now: createdAt), name: name, kind: kind,
            redirectURIs: redirectURIs, allowedScopes: uniqued(scopes ?? Scope.defaultScopes),
            grantTypes: uniqued(grantTypes ?? ClientRegistration.defaultGrantTypes(kind)), createdAt: createdAt)
        let secret = kind == .confidential ? OpaqueToken.make() : nil
        var secretHash: String?
        if let secret { secretHash = try await hasher.hash(secret) }
        try await clients.create(client, secretHash: secretHash)
        return RegisteredClient(client: client, secret: secret)
    }

    private func uniqued<T: Hashable>(_ values: [T]) -> [T] {
        var seen = Set<T>()
        return values.filter { seen.insert($0).inserted }
    }
}
