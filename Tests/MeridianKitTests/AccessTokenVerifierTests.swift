import Crypto
import Foundation
import JWTKit
import Logging
import MeridianKit
import Synchronization
import Testing

/// The verifier every service puts in front of its routes, against a real JWKS served over HTTP.
@Suite struct AccessTokenVerifierTests {
    @Test func aGoodTokenYieldsItsPrincipal() async throws {
        let issuer = TestIssuer()
        try await issuer.addKey("key-1")
        let claims = issuer.claims(
            subject: "usr_bob", permissions: [.ordersReadOwn, .usersReadOwn], roles: ["customer"])
        let token = try await issuer.sign(claims)
        try await issuer.withJWKSServer { url in
            let principal = try await issuer.verifier(usersURL: url).verify(token)
            #expect(principal.subject == "usr_bob")
            #expect(principal.clientID == "cli_test")
            #expect(principal.roles == ["customer"])
            #expect(principal.permissions == [.ordersReadOwn, .usersReadOwn])
            #expect(principal.scopes == ["openid", "orders"])
            #expect(principal.tokenID == claims.jti.value)
            #expect(principal.expiresAt == claims.exp.value)
            #expect(principal.has(.ordersReadOwn) && !principal.has(.ordersRead))
            #expect(principal.hasAny([.ordersRead, .usersReadOwn]) && !principal.hasAny([.auditRead]))
            #expect(issuer.fetchCount == 1)
        }
    }

    @Test func aVerifiedTokenIsServedFromTheCacheUntilItExpires() async throws {
        let issuer = TestIssuer()
        try await issuer.addKey("key-1")
        let token = try await issuer.token(lifetime: 120)
        try await issuer.withJWKSServer { url in
            let clock = ManualClock()
            let cache = VerifiedTokenCache()
            let verifier = issuer.verifier(usersURL: url, clock: clock, cache: cache)
            _ = try await verifier.verify(token)
            #expect(cache.count == 1)
            // The key set is gone from the issuer: only the cache can still accept the token.
            issuer.unpublish("key-1")
            clock.advance(by: 10)
            #expect(try await verifier.verify(token).subject == "usr_alice")
            #expect(issuer.fetchCount == 1)
            // Past exp + 30 s leeway the cached entry is refused like the token itself.
            clock.advance(by: 120 + AccessTokenClaims.leeway)
            await #expect(throws: AccessTokenError.expired) { try await verifier.verify(token) }
            #expect(cache.count == 0)
        }
    }

    @Test func expiryAndNotBeforeAllowThirtySecondsOfClockSkew() async throws {
        let issuer = TestIssuer()
        try await issuer.addKey("key-1")
        let now = Date()
        let justExpired = try await issuer.sign(issuer.claims(issuedAt: now.addingTimeInterval(-610), lifetime: 600))
        let longExpired = try await issuer.sign(issuer.claims(issuedAt: now.addingTimeInterval(-640), lifetime: 600))
        let soonValid = try await issuer.sign(issuer.claims(notBefore: now.addingTimeInterval(20)))
        let notYetValid = try await issuer.sign(issuer.claims(notBefore: now.addingTimeInterval(60)))
        try await issuer.withJWKSServer { url in
            let verifier = issuer.verifier(usersURL: url)
            _ = try await verifier.verify(justExpired)
            _ = try await verifier.verify(soonValid)
            await #expect(throws: AccessTokenError.expired) { try await verifier.verify(longExpired) }
            await #expect(throws: AccessTokenError.notYetValid) { try await verifier.verify(notYetValid) }
        }
    }

    @Test func tokensOfAnotherIssuerOrAudienceAreRefused() async throws {
        let issuer = TestIssuer()
        try await issuer.addKey("key-1")
        let foreignIssuer = try await issuer.sign(issuer.claims(issuer: "https://evil.test"))
        let foreignAudience = try await issuer.sign(issuer.claims(audience: "another-api"))
        try await issuer.withJWKSServer { url in
            let verifier = issuer.verifier(usersURL: url)
            await #expect(throws: AccessTokenError.wrongIssuer) { try await verifier.verify(foreignIssuer) }
            await #expect(throws: AccessTokenError.wrongAudience) { try await verifier.verify(foreignAudience) }
        }
    }

    @Test func tamperedTokensAreRefused() async throws {
        let issuer = TestIssuer()
        try await issuer.addKey("key-1")
        let token = try await issuer.token(permissions: [.ordersReadOwn])
        var parts = jwsParts(token)

        // The payload rewritten to grant admin rights, the signature kept.
        var payload = try decodedJSONObject(parts[1])
        payload["permissions"] = Permission.all.map(\.rawValue)
        let elevated = [parts[0], base64URL(try JSONSerialization.data(withJSONObject: payload)), parts[2]]
            .joined(separator: ".")

        // One byte of the signature changed.
        var signature = try #require(decodeBase64URL(parts[2]))
        signature[10] ^= 0x01
        parts[2] = base64URL(signature)
        let badSignature = parts.joined(separator: ".")

        // A valid ES256 signature by a key the issuer never published, under the published kid.
        let impostor = JWTKeyCollection()
        await impostor.add(ecdsa: ES256PrivateKey(), kid: "key-1")
        let forged = try await impostor.sign(issuer.claims(), kid: "key-1")

        try await issuer.withJWKSServer { url in
            let verifier = issuer.verifier(usersURL: url)
            _ = try await verifier.verify(token)
            await #expect(throws: AccessTokenError.badSignature) { try await verifier.verify(elevated) }
            await #expect(throws: AccessTokenError.badSignature) { try await verifier.verify(badSignature) }
            await #expect(throws: AccessTokenError.badSignature) { try await verifier.verify(forged) }
            for junk in ["", "abc", "a.b.c", "a.b.c.d", String(repeating: "A", count: 9000)] {
                await #expect(throws: AccessTokenError.malformed) { try await verifier.verify(junk) }
            }
        }
    }

    @Test func onlyES256IsAccepted() async throws {
        let issuer = TestIssuer()
        let key = try await issuer.addKey("key-1")

        // alg "none" with no signature.
        let unsecured = JWTKeyCollection()
        await unsecured.addUnsecuredNone(kid: "key-1")
        let none = try await unsecured.sign(issuer.claims(), kid: "key-1")
        #expect(jwsParts(none)[2].isEmpty)

        // The classic confusion: HS256 keyed with the issuer's public key, which anyone can read.
        let confused = JWTKeyCollection()
        await confused.add(hmac: HMACKey(from: key.publicKey.pemRepresentation), digestAlgorithm: .sha256, kid: "key-1")
        let hs256 = try await confused.sign(issuer.claims(), kid: "key-1")

        // A genuine ES256 signature whose header claims another algorithm.
        let relabelled = try await relabel(issuer.token(), alg: "ES384")

        try await issuer.withJWKSServer { url in
            let verifier = issuer.verifier(usersURL: url)
            for token in [none, hs256, relabelled] {
                await #expect(throws: AccessTokenError.unsupportedAlgorithm) { try await verifier.verify(token) }
            }
            // None of them made the verifier fetch keys.
            #expect(issuer.fetchCount == 0)
        }
    }

    @Test func aTokenWithoutKidIsRefused() async throws {
        let issuer = TestIssuer()
        try await issuer.addKey("key-1")
        let anonymousKey = JWTKeyCollection()
        await anonymousKey.add(ecdsa: try #require(issuer.privateKey("key-1")))
        let token = try await anonymousKey.sign(issuer.claims())
        #expect(!String(decoding: try #require(decodeBase64URL(jwsParts(token)[0])), as: UTF8.self).contains("kid"))
        try await issuer.withJWKSServer { url in
            await #expect(throws: AccessTokenError.unknownKey) {
                try await issuer.verifier(usersURL: url).verify(token)
            }
        }
    }

    @Test func aRotatedInKeyIsFetchedButNeverMoreThanOnceInFiveSeconds() async throws {
        let issuer = TestIssuer()
        try await issuer.addKey("key-1")
        try await issuer.withJWKSServer { url in
            let clock = ManualClock()
            let verifier = issuer.verifier(usersURL: url, clock: clock)
            _ = try await verifier.verify(issuer.token(kid: "key-1"))
            #expect(issuer.fetchCount == 1)

            // The issuer rotates: key-2 signs from now on and is published.
            try await issuer.addKey("key-2")
            let rotated = try await issuer.token(kid: "key-2")
            clock.advance(by: 1)
            // Within 5 s of the last fetch the unknown kid is refused without a fetch...
            await #expect(throws: AccessTokenError.unknownKey) { try await verifier.verify(rotated) }
            #expect(issuer.fetchCount == 1)
            // ...and after 5 s it causes one, which picks up the new key; the old one still verifies.
            clock.advance(by: 4)
            #expect(try await verifier.verify(rotated).subject == "usr_alice")
            #expect(issuer.fetchCount == 2)
            #expect(verifier.knownKeyIDs == ["key-1", "key-2"])
            _ = try await verifier.verify(issuer.token(kid: "key-1"))
            #expect(issuer.fetchCount == 2)
        }
    }

    @Test func aFloodOfUnknownKidsCausesOneFetch() async throws {
        let issuer = TestIssuer()
        try await issuer.addKey("key-1")
        // Genuinely signed by key-1, but naming kids the issuer never published.
        var bogus: [String] = []
        for index in 0..<64 {
            bogus.append(try await relabel(issuer.token(), kid: "bogus-\(index)"))
        }
        let tokens = bogus
        try await issuer.withJWKSServer { url in
            let clock = ManualClock()
            let verifier = issuer.verifier(usersURL: url, clock: clock)
            _ = try await verifier.verify(issuer.token())
            clock.advance(by: 6)
            let refused = await withTaskGroup(of: Bool.self) { group in
                for token in tokens {
                    group.addTask {
                        do {
                            _ = try await verifier.verify(token)
                            return false
                        } catch {
                            return error as? AccessTokenError == .unknownKey
                        }
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(refused == tokens.count)
            #expect(issuer.fetchCount == 2)
            // The same flood again inside the interval: no fetch at all.
            for token in tokens.prefix(16) {
                await #expect(throws: AccessTokenError.unknownKey) { try await verifier.verify(token) }
            }
            #expect(issuer.fetchCount == 2)
        }
    }

    @Test func aWithdrawnKeyStopsVerifyingOnceTheKeySetAges() async throws {
        let issuer = TestIssuer()
        try await issuer.addKey("key-1")
        try await issuer.addKey("key-2")
        try await issuer.withJWKSServer { url in
            let clock = ManualClock()
            let verifier = issuer.verifier(usersURL: url, clock: clock)
            _ = try await verifier.verify(issuer.token(kid: "key-1"))
            issuer.unpublish("key-1")
            clock.advance(by: 601)
            // The old key set still serves while a background refresh runs...
            _ = try await verifier.verify(issuer.token(kid: "key-1"))
            await verifier.prefetch()
            #expect(issuer.fetchCount == 2)
            #expect(verifier.knownKeyIDs == ["key-2"])
            // ...after which the withdrawn key is refused.
            await #expect(throws: AccessTokenError.unknownKey) {
                try await verifier.verify(issuer.token(kid: "key-1"))
            }
        }
    }

    @Test func unreachableKeysAreAServiceProblemNotTheCallersFault() async throws {
        let issuer = TestIssuer()
        try await issuer.addKey("key-1")
        let token = try await issuer.token()
        let fetches = Atomic<Int>(0)
        struct Down: Error {}
        let verifier = JWKSTokenVerifier(
            issuer: TestIssuer.issuer, logger: Logger(label: "t"),
            source: {
                fetches.add(1, ordering: .relaxed)
                throw Down()
            })
        await #expect(throws: AccessTokenError.keysUnavailable) { try await verifier.verify(token) }
        await #expect(throws: AccessTokenError.keysUnavailable) { try await verifier.verify(token) }
        #expect(fetches.load(ordering: .relaxed) == 1)

        // A JWKS endpoint answering with an error status counts as unreachable too.
        let refused = JWKSTokenVerifier(
            issuer: TestIssuer.issuer, logger: Logger(label: "t"),
            source: JWKSTokenVerifier.jwks(at: "http://127.0.0.1:1"))
        await #expect(throws: AccessTokenError.keysUnavailable) { try await refused.verify(token) }
    }

    @Test func keysAJWKSMayHoldButTokensCannotUseAreSkipped() async throws {
        let issuer = TestIssuer()
        try await issuer.addKey("key-1")
        issuer.foreignKeys.withLock {
            $0 = [
                #"{"kty":"oct","kid":"sym","k":"c2VjcmV0"}"#,
                #"{"kty":"RSA","kid":"rsa","alg":"RS256","n":"AQAB","e":"AQAB"}"#,
                #"{"kty":"EC","kid":"p384","crv":"P-384","alg":"ES384","x":"AA","y":"AA"}"#,
                #"{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}"#,
            ]
        }
        let token = try await issuer.token()
        try await issuer.withJWKSServer { url in
            let verifier = issuer.verifier(usersURL: url)
            _ = try await verifier.verify(token)
            #expect(verifier.knownKeyIDs == ["key-1"])
        }
    }

    @Test func theCacheStaysWithinItsBound() async throws {
        let issuer = TestIssuer()
        try await issuer.addKey("key-1")
        try await issuer.withJWKSServer { url in
            let cache = VerifiedTokenCache(capacity: 4)
            let verifier = issuer.verifier(usersURL: url, cache: cache)
            for index in 0..<10 {
                _ = try await verifier.verify(issuer.token(subject: "usr_\(index)"))
                #expect(cache.count <= 4)
            }
        }
    }

    @Test func evictionDropsExpiredThenSoonestExpiring() {
        let cache = VerifiedTokenCache(capacity: 4)
        let now = Date()
        func principal(_ name: String) -> Principal {
            Principal(
                subject: name, clientID: "c", roles: [], permissions: [], scopes: [], tokenID: name,
                expiresAt: now)
        }
        let keys = (0..<6).map { VerifiedTokenCache.key(for: "token-\($0)") }
        cache.insert(principal("a"), for: keys[0], validUntil: now.addingTimeInterval(40), now: now)
        cache.insert(principal("b"), for: keys[1], validUntil: now.addingTimeInterval(10), now: now)
        cache.insert(principal("c"), for: keys[2], validUntil: now.addingTimeInterval(30), now: now)
        cache.insert(principal("d"), for: keys[3], validUntil: now.addingTimeInterval(20), now: now)
        #expect(cache.count == 4)
        // Full: the entry closest to expiry (b) makes room, down to three quarters, then e goes in.
        cache.insert(principal("e"), for: keys[4], validUntil: now.addingTimeInterval(50), now: now)
        #expect(cache.count == 4)
        #expect(cache.principal(for: keys[1], now: now) == nil)
        #expect(cache.principal(for: keys[0], now: now)?.subject == "a")
        #expect(cache.principal(for: keys[4], now: now)?.subject == "e")
        // Later, expired entries go first: at now+35 only a and e are alive.
        let later = now.addingTimeInterval(35)
        cache.insert(principal("f"), for: keys[5], validUntil: now.addingTimeInterval(60), now: later)
        #expect(cache.count == 3)
        #expect(cache.principal(for: keys[2], now: now) == nil)
        // An already expired token is never stored.
        cache.insert(principal("g"), for: VerifiedTokenCache.key(for: "g"), validUntil: now, now: later)
        #expect(cache.principal(for: VerifiedTokenCache.key(for: "g"), now: now) == nil)
    }

    @Test func theUsersServiceVerifiesWithItsOwnKeysInProcess() async throws {
        let issuer = TestIssuer()
        try await issuer.addKey("key-1")
        let verifier = StaticKeyTokenVerifier(keys: issuer.signingKeys, issuer: TestIssuer.issuer)
        #expect(try await verifier.verify(issuer.token(subject: "usr_carol")).subject == "usr_carol")
        // Keys added later (rotation) are seen, since the collection is shared with the signer.
        try await issuer.addKey("key-2")
        #expect(try await verifier.verify(issuer.token(kid: "key-2")).subject == "usr_alice")
        await #expect(throws: AccessTokenError.wrongIssuer) {
            try await verifier.verify(issuer.sign(issuer.claims(issuer: "https://evil.test")))
        }
        let unsecured = JWTKeyCollection()
        await unsecured.addUnsecuredNone(kid: "key-1")
        let none = try await unsecured.sign(issuer.claims(), kid: "key-1")
        await #expect(throws: AccessTokenError.unsupportedAlgorithm) { try await verifier.verify(none) }
    }
}

/// The token with its header's `alg` or `kid` replaced, the payload and signature kept.
func relabel(_ token: String, alg: String? = nil, kid: String? = nil) throws -> String {
    var parts = jwsParts(token)
    var header = try decodedJSONObject(parts[0])
    if let alg { header["alg"] = alg }
    if let kid { header["kid"] = kid }
    parts[0] = base64URL(try JSONSerialization.data(withJSONObject: header))
    return parts.joined(separator: ".")
}
