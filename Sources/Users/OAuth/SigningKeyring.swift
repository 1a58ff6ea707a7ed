import Crypto
import Foundation
import JWTKit
import MeridianKit

/// The keys that sign access tokens (ES256). The newest active key signs; older ones stay published in the
/// JWKS until every token they signed has expired, then they are retired.
///
/// Keys live in the database, so every replica and the offline CLI (`meridian keys rotate-signing`) share them.
/// The JWKS is read from the database on every request, so a new key is published the moment it exists; the
/// signer is cached and re-read every `refreshInterval`, which is why a superseded key stays published for
/// that long on top of the token lifetime and the verifiers' leeway.
public actor SigningKeyring {
    let store: SigningKeyStore
    /// How long a key stays published after a newer key was made: long enough for every token it signed.
    nonisolated let retention: TimeInterval
    nonisolated let refreshInterval: TimeInterval
    let now: @Sendable () -> Date
    /// Where key creation and rotation are recorded, in the transaction that stores the key.
    nonisolated let audit: AuditLog?
    private var cached: (signer: TokenSigner, loadedAt: Date)?

    init(
        database: any Database, cipher: FieldCipher, accessTokenLifetime: TimeInterval, refreshInterval: TimeInterval = 30,
        now: @escaping @Sendable () -> Date = Date.init, audit: AuditLog? = nil
    ) {
        self.audit = audit
        self.store = SigningKeyStore(database: database, cipher: cipher)
        self.refreshInterval = refreshInterval
        self.retention = accessTokenLifetime + AccessTokenClaims.leeway + refreshInterval
        self.now = now
    }

    /// The signer of new tokens: the newest active key, created on first use.
    func signer() async throws -> TokenSigner {
        let now = now()
        if let cached, now.timeIntervalSince(cached.loadedAt) < refreshInterval { return cached.signer }
        var keys = try await store.active()
        if keys.isEmpty {
            let store = store
            let audit = audit
            keys = try await store.database.transaction { sql in
                // Another replica may have made one meanwhile: then this one is simply not needed.
                let existing = try await store.active(sql)
                if !existing.isEmpty { return existing }
                let key = try SigningKeyring.makeKey(now: now)
                try await store.insert(key, sql)
                try await audit?.append(
                    AuditEvent(action: "key.create", resourceType: "signing_key", resourceID: key.kid), on: sql)
                return [key]
            }
        }
        return try await remember(keys.last!, at: now)
    }

    /// Makes a new key the signer. The previous one stays in the JWKS for `retention`, then is retired.
    @discardableResult
    public func rotate() async throws -> String {
        let now = now()
        let material = try SigningKeyring.makeKey(now: now)
        let retention = retention
        let store = store
        let audit = audit
        let key = try await store.database.transaction { sql in
            let active = try await store.active(sql)
            // Strictly newer than every existing key, even within one clock tick: "newest" decides the signer.
            let latest = active.last.map { $0.createdAt.addingTimeInterval(0.000_001) } ?? now
            let key = StoredSigningKey(
                kid: material.kid, privateKeyPEM: material.privateKeyPEM, createdAt: max(material.createdAt, latest))
            try await store.insert(key, sql)
            let due = SigningKeyring.due(active + [key], now: now, retention: retention)
            try await SigningKeyStore.retire(due.map(\.kid), at: now, sql)
            try await audit?.append(
                AuditEvent(
                    action: "key.rotate", resourceType: "signing_key", resourceID: key.kid,
                    changes: .object(["retired": .array(due.map { .string($0.kid) })])),
                on: sql)
            return key
        }
        _ = try await remember(key, at: now)
        return key.kid
    }

    /// The public keys verifiers must accept now, newest last.
    func published() async throws -> [PublicSigningKey] {
        let now = now()
        let active = try await store.active()
        let due = Set(SigningKeyring.due(active, now: now, retention: retention).map(\.kid))
        return try active.filter { !due.contains($0.kid) }.map { try PublicSigningKey(stored: $0) }
    }

    /// The published keys as a JWKS, the source of the service's own token verifier.
    func jwks() async throws -> JWKS {
        JWKS(keys: try await published().map { key in
            JWK.ecdsa(.es256, identifier: JWKIdentifier(string: key.kid), x: key.x, y: key.y, curve: .p256)
        })
    }

    /// The keys whose successor has existed for longer than `retention`.
    static func due(_ keys: [StoredSigningKey], now: Date, retention: TimeInterval) -> [StoredSigningKey] {
        guard keys.count > 1 else { return [] }
        return zip(keys, keys.dropFirst()).compactMap { key, successor in
            now.timeIntervalSince(successor.createdAt) >= retention ? key : nil
        }
    }

    private func remember(_ key: StoredSigningKey, at date: Date) async throws -> TokenSigner {
        let signer = try await TokenSigner.make(key)
        cached = (signer, date)
        return signer
    }

    static func makeKey(now: Date) throws -> StoredSigningKey {
        let key = P256.Signing.PrivateKey()
        return StoredSigningKey(
            kid: PublicSigningKey.thumbprint(of: key.publicKey), privateKeyPEM: key.pemRepresentation,
            createdAt: Timestamp.date(micros: Timestamp.micros(now)))
    }
}

/// One key's signing half, ready to sign: jwt-kit's collection holding just that key.
struct TokenSigner: Sendable {
    let kid: String
    private let keys: JWTKeyCollection

    private init(kid: String, keys: JWTKeyCollection) {
        self.kid = kid
        self.keys = keys
    }

    static func make(_ stored: StoredSigningKey) async throws -> TokenSigner {
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: try ES256PrivateKey(pem: stored.privateKeyPEM), kid: JWKIdentifier(string: stored.kid))
        return TokenSigner(kid: stored.kid, keys: keys)
    }

    /// A compact JWS with `alg: ES256`, this key's `kid` and `typ: at+jwt` (RFC 9068), which keeps an access
    /// token from being mistaken for any other kind of JWT.
    func sign(_ claims: AccessTokenClaims) async throws -> String {
        var header = JWTHeader()
        header.typ = "at+jwt"
        return try await keys.sign(claims, kid: JWKIdentifier(string: kid), header: header)
    }
}

/// A public key as the JWKS publishes it (RFC 7517, RFC 7518 section 6.2).
struct PublicSigningKey: Codable, Sendable, Equatable {
    let kty: String
    let crv: String
    let x: String
    let y: String
    let kid: String
    let alg: String
    let use: String

    init(stored: StoredSigningKey) throws {
        let publicKey = try P256.Signing.PrivateKey(pemRepresentation: stored.privateKeyPEM).publicKey
        let (x, y) = PublicSigningKey.coordinates(of: publicKey)
        self.kty = "EC"
        self.crv = "P-256"
        self.x = x
        self.y = y
        self.kid = stored.kid
        self.alg = "ES256"
        self.use = "sig"
    }

    static func coordinates(of key: P256.Signing.PublicKey) -> (x: String, y: String) {
        let raw = Array(key.rawRepresentation)
        return (Base64URL.encode(raw.prefix(32)), Base64URL.encode(raw.suffix(32)))
    }

    /// The RFC 7638 thumbprint: a `kid` derived from the key itself, so no two keys share one.
    static func thumbprint(of key: P256.Signing.PublicKey) -> String {
        let (x, y) = coordinates(of: key)
        let canonical = #"{"crv":"P-256","kty":"EC","x":"\#(x)","y":"\#(y)"}"#
        return Base64URL.encode(SHA256.hash(data: Array(canonical.utf8)))
    }
}
