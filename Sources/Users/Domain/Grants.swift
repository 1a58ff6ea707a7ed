import Foundation

/// An authorization code as stored: its hash, never the code.
struct AuthorizationCode: Sendable, Equatable {
    let codeHash: String
    let clientID: String
    let userID: String
    /// The redirect URI the authorization request named, port included; the token request must repeat it.
    let redirectURI: String
    /// Nil only for codes that predate PKCE being required; such codes are refused (RFC 9700 section 2.1.1).
    let codeChallenge: String?
    let codeChallengeMethod: String?
    let scope: String
    /// The grant every token issued from this code belongs to.
    let familyID: String
    let createdAt: Date
    let expiresAt: Date
    var usedAt: Date?

    static let lifetime: TimeInterval = 60
}

/// A refresh token as stored. Each use replaces it with a new one of the same family.
struct RefreshToken: Sendable, Equatable {
    let tokenHash: String
    let familyID: String
    let codeHash: String?
    let clientID: String
    let userID: String
    let scope: String
    let createdAt: Date
    let expiresAt: Date
    var usedAt: Date?
    var revokedAt: Date?

    static let lifetime: TimeInterval = 30 * 86_400
}

/// The record of an issued access token: what introspection and revocation consult.
struct IssuedAccessToken: Sendable, Equatable {
    let jti: String
    let familyID: String?
    let clientID: String
    let subject: String
    let issuedAt: Date
    let expiresAt: Date
    var revokedAt: Date?

    static let lifetime: TimeInterval = 600
}

enum GrantIdentifier {
    static let familyPrefix = "fam"
    static let tokenPrefix = "tok"
}
