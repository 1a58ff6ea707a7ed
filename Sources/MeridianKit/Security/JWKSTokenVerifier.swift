import AsyncHTTPClient
import Foundation
import JWTKit
import Logging
import NIOHTTP1
import Synchronization

/// Verifies access tokens against the issuer's published JWKS (`<usersURL>/.well-known/jwks.json`).
///
/// The key set is fetched on first use and again when a token names a `kid` it lacks (rotation), but never
/// more than once per `minimumRefetchInterval`, however many tokens with unknown kids arrive: concurrent
/// misses share one fetch, and misses inside the interval are refused without one. A key set older than
/// `maximumKeyAge` is refreshed in the background while the old one keeps serving, so a key the issuer
/// withdraws stops being accepted within that age.
public final class JWKSTokenVerifier: AccessTokenVerifier {
    /// Produces the issuer's current key set.
    public typealias KeySetSource = @Sendable () async throws -> JWKS

    struct KeySet {
        let collection: JWTKeyCollection
        let keyIDs: Set<String>
        let fetchedAt: Date
    }

    struct State {
        var keySet: KeySet?
        var lastAttempt: Date?
        var lastAttemptFailed = false
        var refresh: Task<Void, Never>?
    }

    enum Decision {
        case use(JWTKeyCollection)
        case wait(Task<Void, Never>)
        case refuse(AccessTokenError)
    }

    let rules: AccessTokenRules
    let source: KeySetSource
    let minimumRefetchInterval: TimeInterval
    let maximumKeyAge: TimeInterval
    let logger: Logger
    private let state = Mutex(State())

    /// - Parameters:
    ///   - source: where the key set comes from; `JWKSTokenVerifier.jwks(at:client:)` for the users service.
    ///   - minimumRefetchInterval: the least time between two fetches caused by unknown kids.
    ///   - maximumKeyAge: the age after which a key set is refreshed in the background.
    ///   - now: the clock for token times and for the refetch limit.
    public init(
        issuer: String, audience: String = AccessTokenClaims.audience,
        minimumRefetchInterval: TimeInterval = 5, maximumKeyAge: TimeInterval = 600,
        cache: VerifiedTokenCache = VerifiedTokenCache(), logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }, source: @escaping KeySetSource
    ) {
        self.rules = AccessTokenRules(issuer: issuer, audience: audience, cache: cache, now: now)
        self.source = source
        self.minimumRefetchInterval = minimumRefetchInterval
        self.maximumKeyAge = maximumKeyAge
        self.logger = logger
    }

    /// A verifier for the users service at `usersURL` (its internal base URL).
    public convenience init(
        usersURL: String, issuer: String, audience: String = AccessTokenClaims.audience,
        client: HTTPClient = ServiceClient.internalClient, logger: Logger
    ) {
        self.init(
            issuer: issuer, audience: audience, logger: logger,
            source: JWKSTokenVerifier.jwks(at: usersURL, client: client))
    }

    /// Fetches `<usersURL>/.well-known/jwks.json` through the pooled internal client.
    public static func jwks(at usersURL: String, client: HTTPClient = ServiceClient.internalClient) -> KeySetSource {
        let service = ServiceClient(service: "users", baseURL: usersURL, client: client)
        return {
            let reply = try await service.send(.GET, "/.well-known/jwks.json")
            guard reply.status == 200 else { throw KeySetUnavailable(status: reply.status) }
            return try JSONDecoder().decode(TolerantJWKS.self, from: Data(reply.body.readableBytesView)).jwks
        }
    }

    struct KeySetUnavailable: Error {
        let status: Int
    }

    public func verify(_ bearer: String) async throws -> Principal {
        try await rules.verify(bearer) { keyID throws(AccessTokenError) in try await self.keys(for: keyID) }
    }

    /// Fetches the key set now, unless a fetch is under way or happened within `minimumRefetchInterval`;
    /// services call it at start so the first request does not wait for it.
    public func prefetch() async {
        let task: Task<Void, Never>? = state.withLock { state in
            if let refresh = state.refresh { return refresh }
            return mayFetch(state, now: rules.now()) ? startRefresh(&state, now: rules.now()) : nil
        }
        await task?.value
    }

    /// The key IDs currently known (for diagnostics and tests).
    public var knownKeyIDs: Set<String> { state.withLock { $0.keySet?.keyIDs ?? [] } }

    func keys(for keyID: String) async throws(AccessTokenError) -> JWTKeyCollection {
        switch decide(keyID, mayStartFetch: true) {
        case .use(let collection): return collection
        case .refuse(let error): throw error
        case .wait(let refresh):
            await refresh.value
            // A second look after the fetch, which must not start another one.
            switch decide(keyID, mayStartFetch: false) {
            case .use(let collection): return collection
            case .refuse(let error): throw error
            case .wait: throw .unknownKey
            }
        }
    }

    private func decide(_ keyID: String, mayStartFetch: Bool) -> Decision {
        let now = rules.now()
        return state.withLock { state -> Decision in
            if let keySet = state.keySet, keySet.keyIDs.contains(keyID) {
                if now.timeIntervalSince(keySet.fetchedAt) >= maximumKeyAge, state.refresh == nil,
                    mayFetch(state, now: now)
                {
                    _ = startRefresh(&state, now: now)
                }
                return .use(keySet.collection)
            }
            if mayStartFetch {
                if let refresh = state.refresh { return .wait(refresh) }
                if mayFetch(state, now: now) { return .wait(startRefresh(&state, now: now)) }
            }
            // Without keys, or when the last fetch failed, the token can be neither accepted nor refused.
            return .refuse(state.keySet == nil || state.lastAttemptFailed ? .keysUnavailable : .unknownKey)
        }
    }

    private func mayFetch(_ state: State, now: Date) -> Bool {
        guard let last = state.lastAttempt else { return true }
        // A clock that went backwards must not lock the verifier out of fetching.
        return now.timeIntervalSince(last) >= minimumRefetchInterval || now < last
    }

    /// Starts a fetch; called with the lock held, so the task is recorded before it can finish.
    private func startRefresh(_ state: inout State, now: Date) -> Task<Void, Never> {
        state.lastAttempt = now
        let task = Task { await self.refresh() }
        state.refresh = task
        return task
    }

    private func refresh() async {
        do {
            let jwks = try await source()
            let keySet = await Self.keySet(from: jwks, fetchedAt: rules.now())
            state.withLock { state in
                state.keySet = keySet
                state.lastAttemptFailed = false
                state.refresh = nil
            }
            logger.debug("signing keys loaded", metadata: ["key_count": "\(keySet.keyIDs.count)"])
        } catch {
            state.withLock { state in
                state.lastAttemptFailed = true
                state.refresh = nil
            }
            logger.warning(
                "signing keys unavailable", metadata: ["error": "\(String(reflecting: type(of: error)))"])
        }
    }

    /// The ES256 verification keys of a JWKS. Keys of other types, curves or algorithms, and keys without a
    /// kid, are left out: a token can only ever be checked with a P-256 public key.
    static func keySet(from jwks: JWKS, fetchedAt: Date) async -> KeySet {
        let collection = JWTKeyCollection()
        var keyIDs = Set<String>()
        for jwk in jwks.keys {
            guard jwk.keyType == .ecdsa, jwk.curve?.rawValue == ECDSACurve.p256.rawValue,
                jwk.algorithm == nil || jwk.algorithm == .es256,
                let keyID = jwk.keyIdentifier, !keyID.string.isEmpty,
                let x = jwk.x, let y = jwk.y,
                let key = try? ES256PublicKey(parameters: (x: x, y: y))
            else { continue }
            await collection.add(ecdsa: key, kid: keyID)
            keyIDs.insert(keyID.string)
        }
        return KeySet(collection: collection, keyIDs: keyIDs, fetchedAt: fetchedAt)
    }
}

/// A JWKS whose keys of kinds jwt-kit cannot read (RFC 7517 section 5: "implementations SHOULD ignore JWKs
/// within a JWK Set that use kty values that are not understood") are skipped instead of failing the set.
struct TolerantJWKS: Decodable {
    let jwks: JWKS

    private enum CodingKeys: String, CodingKey { case keys }
    private struct Skipped: Decodable {
        init(from decoder: any Decoder) throws {}
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var list = try container.nestedUnkeyedContainer(forKey: .keys)
        var keys: [JWK] = []
        while !list.isAtEnd {
            if let key = try? list.decode(JWK.self) {
                keys.append(key)
            } else {
                _ = try list.decode(Skipped.self)
            }
        }
        jwks = JWKS(keys: keys)
    }
}
