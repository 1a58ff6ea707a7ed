import Foundation
import JWTKit
import MeridianKit
import NIOCore
import Synchronization

/// A token issuer for the gateway's tests (the minimum of MeridianKitTests' `TestIssuer`, which a test target
/// cannot import): a real P-256 key signing ES256 tokens with jwt-kit, and the JWKS the test users upstream
/// publishes for it, counting how often the gateway fetches it.
final class TestIssuer: Sendable {
    static let issuer = "https://meridian.test"
    /// The issuer of every test upstream that is not given another: the proxy tests sign in with it.
    static let shared = TestIssuer()

    let keyID: String
    let key: ES256PrivateKey
    private let fetches = Atomic<Int>(0)

    init(keyID: String = "key-1") {
        self.keyID = keyID
        self.key = ES256PrivateKey()
    }

    /// How many times the JWKS was served.
    var fetchCount: Int { fetches.load(ordering: .acquiring) }

    /// The JWKS document, counted as one fetch.
    func servedJWKS() throws -> ByteBuffer {
        fetches.add(1, ordering: .acquiringAndReleasing)
        guard let parameters = key.parameters else { throw MissingKeyParameters() }
        let jwk = JWK.ecdsa(
            .es256, identifier: JWKIdentifier(string: keyID), x: parameters.x, y: parameters.y, curve: .p256)
        let encoded = try JSONEncoder().encode(JWKS(keys: [jwk]))
        return ByteBuffer(bytes: encoded)
    }

    struct MissingKeyParameters: Error {}

    func claims(
        subject: String = "usr_alice", issuedAt: Date = Date(), lifetime: TimeInterval = 600,
        issuer: String = TestIssuer.issuer, audience: String = AccessTokenClaims.audience
    ) -> AccessTokenClaims {
        AccessTokenClaims(
            issuer: issuer, subject: subject, audience: audience, issuedAt: issuedAt,
            expiresAt: issuedAt.addingTimeInterval(lifetime), tokenID: "tok_\(UUID().uuidString)",
            clientID: "cli_test", scope: "openid", roles: ["admin"], permissions: Permission.all)
    }

    /// Signs `claims` with this issuer's key, or with `key` (a key nobody published) under this issuer's kid.
    func sign(_ claims: AccessTokenClaims, with key: ES256PrivateKey? = nil) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: key ?? self.key, kid: JWKIdentifier(string: keyID))
        return try await keys.sign(claims, kid: JWKIdentifier(string: keyID))
    }

    func token(subject: String = "usr_alice") async throws -> String {
        try await sign(claims(subject: subject))
    }
}
