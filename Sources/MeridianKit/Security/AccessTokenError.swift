/// Why an access token was refused. `description` is safe to show the caller (RFC 6750 `error_description`):
/// it names the rule the token broke and never echoes the token.
public enum AccessTokenError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not a compact JWS with a readable header and Meridian's claims.
    case malformed
    /// Signed with something other than ES256 (`none`, HS256, RS256, …), or carrying `crit` extensions.
    case unsupportedAlgorithm
    /// No `kid`, or a `kid` the issuer's key set does not contain even after a refetch.
    case unknownKey
    /// The signature does not verify with the key the token names.
    case badSignature
    case expired
    case notYetValid
    case wrongIssuer
    case wrongAudience
    /// The issuer's keys could not be fetched, so the token could be neither accepted nor refused.
    /// Not the caller's fault: 503, not 401.
    case keysUnavailable

    public var description: String {
        switch self {
        case .malformed: "The access token is malformed."
        case .unsupportedAlgorithm: "The access token must be an ES256-signed JWT."
        case .unknownKey: "The access token is signed with an unknown key."
        case .badSignature: "The access token signature is invalid."
        case .expired: "The access token has expired."
        case .notYetValid: "The access token is not valid yet."
        case .wrongIssuer: "The access token was issued by another issuer."
        case .wrongAudience: "The access token is intended for another audience."
        case .keysUnavailable: "The signing keys of the issuer are unavailable."
        }
    }
}
