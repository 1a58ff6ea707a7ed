import Foundation
import JWTKit

/// Turns a bearer token into the principal it proves, or throws `AccessTokenError`.
public protocol AccessTokenVerifier: Sendable {
    func verify(_ bearer: String) async throws -> Principal
}

/// The rules every Meridian verifier applies, whatever the source of its keys: ES256 only, Meridian's claims,
/// the configured issuer and audience, `exp`/`nbf` with leeway, and the cache of verified tokens.
struct AccessTokenRules: Sendable {
    let issuer: String
    let audience: String
    let cache: VerifiedTokenCache
    let now: @Sendable () -> Date

    /// Longer than any token Meridian issues by a wide margin; refusing early bounds the work on junk.
    static let maximumTokenLength = 8 * 1024

    /// What the header and payload say before anyone has checked the signature.
    struct Unverified {
        let keyID: String
        let claims: AccessTokenClaims
    }

    /// Verifies `bearer` with the keys `keys(kid)` returns. Cheap checks (shape, algorithm, claims) run before
    /// the key lookup, so an expired or foreign token never causes a key fetch.
    func verify(
        _ bearer: String, keys: (String) async throws(AccessTokenError) -> JWTKeyCollection
    ) async throws(AccessTokenError) -> Principal {
        let now = now()
        guard bearer.utf8.count <= Self.maximumTokenLength else { throw .malformed }
        let cacheKey = VerifiedTokenCache.key(for: bearer)
        if let principal = cache.principal(for: cacheKey, now: now) { return principal }

        let token = try Self.inspect(bearer)
        try check(token.claims, now: now)
        let collection = try await keys(token.keyID)
        do {
            _ = try await collection.verify(bearer, as: SignatureOnly.self)
        } catch {
            throw .badSignature
        }
        let principal = Principal(claims: token.claims)
        cache.insert(principal, for: cacheKey, validUntil: token.claims.validUntil, now: now)
        return principal
    }

    static func inspect(_ bearer: String) throws(AccessTokenError) -> Unverified {
        let parsed: (header: JWTHeader, payload: AccessTokenClaims, signature: Data)
        do {
            parsed = try DefaultJWTParser().parse(Array(bearer.utf8), as: AccessTokenClaims.self)
        } catch {
            throw .malformed
        }
        // The algorithm is pinned, never taken from the token: this is what refuses `none`, and HS256 signed
        // with the public key as the secret.
        guard parsed.header.alg == "ES256" else { throw .unsupportedAlgorithm }
        // RFC 7515 section 4.1.11: extensions a recipient does not understand make the token invalid.
        guard parsed.header.fields["crit"] == nil else { throw .unsupportedAlgorithm }
        guard let keyID = parsed.header.kid, !keyID.isEmpty else { throw .unknownKey }
        return Unverified(keyID: keyID, claims: parsed.payload)
    }

    func check(_ claims: AccessTokenClaims, now: Date) throws(AccessTokenError) {
        try claims.checkTimes(now: now)
        guard claims.iss.value == issuer else { throw .wrongIssuer }
        guard claims.aud.value.contains(audience) else { throw .wrongAudience }
    }
}

/// Lets jwt-kit check only the signature: the claims were decoded and checked already, against our clock.
private struct SignatureOnly: JWTPayload {
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {}
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Verifies with keys held in this process: what the users service uses, since it signs the tokens itself.
/// The collection is shared with the signer, so keys it adds on rotation are seen at once.
///
/// A token naming a `kid` the collection lacks is checked against the collection's default key (jwt-kit's
/// rule) and fails as `badSignature` unless that key really signed it.
public struct StaticKeyTokenVerifier: AccessTokenVerifier {
    let keys: JWTKeyCollection
    let rules: AccessTokenRules

    public init(
        keys: JWTKeyCollection, issuer: String, audience: String = AccessTokenClaims.audience,
        cache: VerifiedTokenCache = VerifiedTokenCache(), now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.keys = keys
        self.rules = AccessTokenRules(issuer: issuer, audience: audience, cache: cache, now: now)
    }

    public func verify(_ bearer: String) async throws -> Principal {
        let keys = keys
        return try await rules.verify(bearer) { _ throws(AccessTokenError) in keys }
    }
}
