import Foundation
import JWTKit

/// The claims of a Meridian access token: the contract between the users service, which signs them, and every
/// service that verifies them (docs/identity.md). JSON keys are the registered JWT names and snake_case.
public struct AccessTokenClaims: JWTPayload, Equatable {
    /// The audience every Meridian access token is issued for.
    public static let audience = "meridian-api"
    /// Clock skew tolerated on `exp` and `nbf`: the services and the users service may disagree on the time.
    public static let leeway: TimeInterval = 30

    public var iss: IssuerClaim
    public var sub: SubjectClaim
    public var aud: AudienceClaim
    public var exp: ExpirationClaim
    public var iat: IssuedAtClaim
    public var nbf: NotBeforeClaim
    public var jti: IDClaim
    public var clientID: String
    /// Granted scopes, space-separated (RFC 6749 section 3.3).
    public var scope: String
    /// The subject's role names at issue time.
    public var roles: [String]
    /// The permissions those roles granted at issue time, so a service decides without asking users.
    public var permissions: [Permission]

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, iat, nbf, jti
        case clientID = "client_id"
        case scope, roles, permissions
    }

    public init(
        issuer: String, subject: String, audience: String = AccessTokenClaims.audience, issuedAt: Date,
        expiresAt: Date, notBefore: Date? = nil, tokenID: String, clientID: String, scope: String,
        roles: [String], permissions: [Permission]
    ) {
        self.iss = IssuerClaim(value: issuer)
        self.sub = SubjectClaim(value: subject)
        self.aud = AudienceClaim(value: [audience])
        // Whole seconds: NumericDate may be fractional, but some JOSE libraries mishandle fractions.
        self.exp = ExpirationClaim(value: AccessTokenClaims.wholeSeconds(expiresAt))
        self.iat = IssuedAtClaim(value: AccessTokenClaims.wholeSeconds(issuedAt))
        self.nbf = NotBeforeClaim(value: AccessTokenClaims.wholeSeconds(notBefore ?? issuedAt))
        self.jti = IDClaim(value: tokenID)
        self.clientID = clientID
        self.scope = scope
        self.roles = roles
        self.permissions = permissions
    }

    static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    /// Checks the time window with `leeway` on both ends. Issuer and audience depend on configuration and are
    /// checked by the verifier (`JWKSTokenVerifier`), which knows them.
    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try checkTimes(now: Date())
    }

    /// The time checks of `verify(using:)` against a given clock: refused from `exp + leeway` on, and until
    /// `nbf - leeway`.
    public func checkTimes(now: Date) throws(AccessTokenError) {
        guard now < validUntil else { throw .expired }
        guard nbf.value < now.addingTimeInterval(AccessTokenClaims.leeway) else { throw .notYetValid }
    }

    /// The first instant at which the token is refused as expired.
    public var validUntil: Date { exp.value.addingTimeInterval(AccessTokenClaims.leeway) }

    /// The granted scopes as a set.
    public var scopes: Set<String> {
        Set(scope.split(separator: " ", omittingEmptySubsequences: true).map(String.init))
    }
}
