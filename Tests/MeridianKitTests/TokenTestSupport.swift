import Foundation
import Hummingbird
import HummingbirdTesting
import JWTKit
import Logging
import MeridianKit
import NIOCore
import Synchronization
import Testing

/// A clock the tests move by hand, so expiry and the refetch limit are tested without sleeping.
final class ManualClock: Sendable {
    private let offset = Mutex<TimeInterval>(0)
    func now() -> Date { Date().addingTimeInterval(offset.withLock { $0 }) }
    func advance(by seconds: TimeInterval) { offset.withLock { $0 += seconds } }
}

/// A token issuer for tests: real P-256 keys signing with jwt-kit, and the JWKS it publishes, served by a live
/// Hummingbird server that counts how often it is fetched.
final class TestIssuer: Sendable {
    static let issuer = "https://meridian.test"

    let signingKeys = JWTKeyCollection()
    private let publicKeys = Mutex<[JWK]>([])
    private let privateKeys = Mutex<[String: ES256PrivateKey]>([:])
    private let jwksHits = Atomic<Int>(0)
    /// Raw JSON objects served in the JWKS besides the issuer's keys (keys of kinds a verifier must skip).
    let foreignKeys = Mutex<[String]>([])

    /// How many times the JWKS endpoint was fetched.
    var fetchCount: Int { jwksHits.load(ordering: .acquiring) }

    /// Creates a P-256 key under `kid`; `publish: false` keeps it out of the JWKS (a key nobody announced).
    @discardableResult
    func addKey(_ kid: String, publish: Bool = true) async throws -> ES256PrivateKey {
        let key = ES256PrivateKey()
        await signingKeys.add(ecdsa: key, kid: JWKIdentifier(string: kid))
        privateKeys.withLock { $0[kid] = key }
        if publish {
            let parameters = try #require(key.parameters)
            let jwk = JWK.ecdsa(
                .es256, identifier: JWKIdentifier(string: kid), x: parameters.x, y: parameters.y, curve: .p256)
            publicKeys.withLock { $0.append(jwk) }
        }
        return key
    }

    /// Withdraws a key from the JWKS (it can still sign, as a stolen key could).
    func unpublish(_ kid: String) {
        publicKeys.withLock { $0.removeAll { $0.keyIdentifier?.string == kid } }
    }

    func privateKey(_ kid: String) -> ES256PrivateKey? { privateKeys.withLock { $0[kid] } }

    func claims(
        subject: String = "usr_alice", permissions: [Permission] = [.ordersReadOwn], roles: [String] = ["customer"],
        issuedAt: Date = Date(), lifetime: TimeInterval = 600, notBefore: Date? = nil,
        issuer: String = TestIssuer.issuer, audience: String = AccessTokenClaims.audience
    ) -> AccessTokenClaims {
        AccessTokenClaims(
            issuer: issuer, subject: subject, audience: audience, issuedAt: issuedAt,
            expiresAt: issuedAt.addingTimeInterval(lifetime), notBefore: notBefore,
            tokenID: "tok_\(UUID().uuidString)", clientID: "cli_test", scope: "openid orders",
            roles: roles, permissions: permissions)
    }

    func sign(_ claims: AccessTokenClaims, kid: String = "key-1") async throws -> String {
        try await signingKeys.sign(claims, kid: JWKIdentifier(string: kid))
    }

    func token(
        kid: String = "key-1", subject: String = "usr_alice", permissions: [Permission] = [.ordersReadOwn],
        lifetime: TimeInterval = 600
    ) async throws -> String {
        try await sign(claims(subject: subject, permissions: permissions, lifetime: lifetime), kid: kid)
    }

    var jwksJSON: ByteBuffer {
        get throws {
            let keys = try publicKeys.withLock { $0 }.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
            let all = foreignKeys.withLock { $0 } + keys
            return ByteBuffer(string: #"{"keys":["# + all.joined(separator: ",") + "]}")
        }
    }

    /// Runs `body` with a live server publishing this issuer's JWKS at `/.well-known/jwks.json`, and passes the
    /// server's base URL.
    func withJWKSServer(_ body: @escaping @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.get("/.well-known/jwks.json") { _, _ -> Response in
            self.jwksHits.add(1, ordering: .acquiringAndReleasing)
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: try self.jwksJSON))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            logger: Logger(label: "jwks-test-server"))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            try await body("http://127.0.0.1:\(port)")
        }
    }

    /// A verifier of this issuer's tokens that fetches the JWKS from `usersURL` over HTTP, like a service does.
    func verifier(
        usersURL: String, clock: ManualClock = ManualClock(), cache: VerifiedTokenCache = VerifiedTokenCache()
    ) -> JWKSTokenVerifier {
        JWKSTokenVerifier(
            issuer: TestIssuer.issuer, cache: cache, logger: Logger(label: "verifier-test"), now: { clock.now() },
            source: JWKSTokenVerifier.jwks(at: usersURL))
    }
}

/// Base64url without padding (RFC 7515 section 2), for forging tokens by hand.
func base64URL(_ data: some DataProtocol) -> String {
    Data(data).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// The three parts of a compact JWS.
func jwsParts(_ token: String) -> [String] { token.split(separator: ".", omittingEmptySubsequences: false).map(String.init) }

func decodeBase64URL(_ text: String) -> Data? {
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.count % 4 != 0 { base64 += "=" }
    return Data(base64Encoded: base64)
}

struct NotAJSONObject: Error {}

/// The JSON object a base64url part of a JWS holds.
func decodedJSONObject(_ part: String) throws -> [String: Any] {
    guard let data = decodeBase64URL(part),
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { throw NotAJSONObject() }
    return object
}
