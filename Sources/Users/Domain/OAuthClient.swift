import Foundation

/// An application registered to obtain tokens (RFC 6749 section 2).
public struct OAuthClient: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Cannot keep a secret (a CLI, a browser or mobile app): proves itself with PKCE alone.
        case `public`
        /// Keeps a secret (a service): authenticates with it at the token endpoint.
        case confidential
    }

    public enum GrantType: String, Sendable, CaseIterable {
        case authorizationCode = "authorization_code"
        case refreshToken = "refresh_token"
        case clientCredentials = "client_credentials"
    }

    public static let idPrefix = "cli"
    /// The built-in public client `meridian login` uses.
    public static let cliID = "meridian-cli"
    public static let cliRedirectURI = "http://127.0.0.1/callback"

    public let id: String
    public var name: String
    public var kind: Kind
    /// Exact redirect URIs (loopback ones match on any port).
    public var redirectURIs: [String]
    public var allowedScopes: [String]
    public var grantTypes: [GrantType]
    public let createdAt: Date

    public init(
        id: String, name: String, kind: Kind, redirectURIs: [String], allowedScopes: [String],
        grantTypes: [GrantType], createdAt: Date
    ) {
        self.id = id
        self.name = name
        self.kind = kind
        self.redirectURIs = redirectURIs
        self.allowedScopes = allowedScopes
        self.grantTypes = grantTypes
        self.createdAt = createdAt
    }

    public func allows(_ grant: GrantType) -> Bool { grantTypes.contains(grant) }

    /// The scopes a request may be granted: all requested ones must be allowed; none requested means all allowed.
    func grantableScopes(_ requested: [String]?) -> [String]? {
        guard let requested else { return allowedScopes }
        return requested.allSatisfy(allowedScopes.contains) ? requested : nil
    }

    /// The combinations of kind, grant types and redirect URIs that make sense; nil when this one does.
    /// A public client cannot use client credentials (it has none); refresh tokens come only from codes; the
    /// code flow needs somewhere to send the code.
    static func problem(kind: Kind, grantTypes: [GrantType], redirectURIs: [String]) -> (field: String, message: String)? {
        if grantTypes.isEmpty { return ("grant_types", "must name at least one grant type") }
        if kind == .public, grantTypes.contains(.clientCredentials) {
            return ("grant_types", "client_credentials needs a confidential client: a public client has no secret")
        }
        if grantTypes.contains(.refreshToken), !grantTypes.contains(.authorizationCode) {
            return ("grant_types", "refresh_token is only issued with authorization_code")
        }
        if grantTypes.contains(.authorizationCode), redirectURIs.isEmpty {
            return ("redirect_uris", "authorization_code needs at least one redirect URI")
        }
        if !grantTypes.contains(.authorizationCode), !redirectURIs.isEmpty {
            return ("redirect_uris", "only clients using authorization_code have redirect URIs")
        }
        return nil
    }
}

/// A client just registered, with its secret: the only moment the secret exists outside the client's hands.
public struct RegisteredClient: Sendable {
    public let client: OAuthClient
    /// Set for confidential clients; stored only as a bcrypt hash, so it cannot be shown again.
    public let secret: String?
}
