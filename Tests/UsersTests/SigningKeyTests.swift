import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import JWTKit
import MeridianKit
import MeridianTestSupport
import SQLKit
import Testing

@testable import Users

/// The signing keys: made on first start, rotated on demand, published until every token they signed is
/// expired, then retired.
@Suite struct SigningKeyTests {
    static func jwks(_ client: some TestClientProtocol) async throws -> (json: String, kids: [String]) {
        let response = try await client.execute(uri: "/.well-known/jwks.json", method: .get)
        #expect(response.status == .ok)
        let json = String(buffer: response.body)
        let keys = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])["keys"]
        return (json, (keys as? [[String: Any]] ?? []).compactMap { $0["kid"] as? String })
    }

    static func kid(of token: String) throws -> String {
        let header = try #require(base64URLDecode(String(token.split(separator: ".")[0])))
        return try #require((try JSONSerialization.jsonObject(with: header) as? [String: Any])?["kid"] as? String)
    }

    @Test(arguments: TestDatabase.engines)
    func theFirstStartCreatesOneP256KeyPublishedWithoutItsPrivatePart(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            #expect(try await rowCount(service, "signing_keys") == 1)
            let response = try await client.execute(uri: "/.well-known/jwks.json", method: .get)
            #expect(response.headers[.contentType] == "application/jwk-set+json")
            let body = try object(response)
            let key = try #require((body["keys"] as? [[String: Any]])?.first)
            #expect(key["kty"] as? String == "EC")
            #expect(key["crv"] as? String == "P-256")
            #expect(key["alg"] as? String == "ES256")
            #expect(key["use"] as? String == "sig")
            #expect((key["x"] as? String)?.count == 43 && (key["y"] as? String)?.count == 43)
            #expect(key["d"] == nil)
            #expect(Set(key.keys) == ["kty", "crv", "alg", "use", "kid", "x", "y"])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func rotationMakesTheNewKeySignWhileTheOldStaysPublished(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            let backend = try await service.createClient(name: "Rotating", kind: .confidential)
            func token() async throws -> String {
                let response = try await client.tokenRequest(
                    [("grant_type", "client_credentials")],
                    headers: [.authorization: basicAuthorization(backend.client.id, backend.secret!)])
                return try #require(try object(response)["access_token"] as? String)
            }
            let before = try await token()
            let oldKid = try Self.kid(of: before)

            let newKid = try await service.rotateSigningKey()
            #expect(newKid != oldKid)
            let after = try await token()
            #expect(try Self.kid(of: after) == newKid)

            let (json, kids) = try await Self.jwks(client)
            #expect(Set(kids) == [oldKid, newKid])
            // Tokens of both keys verify against the published set.
            let keys = try await JWTKeyCollection().add(jwksJSON: json)
            _ = try await keys.verify(before, as: AccessTokenClaims.self)
            _ = try await keys.verify(after, as: AccessTokenClaims.self)
            // And the service itself accepts both, at once.
            #expect(try await service.verifier.verify(before).subject == backend.client.id)
            #expect(try await service.verifier.verify(after).subject == backend.client.id)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aSupersededKeyIsRetiredOnceEveryTokenItSignedHasExpired(_ engine: DatabaseEngine) async throws {
        let clock = TestClock()
        try await withRawUsersService(engine, now: clock.now) { client, service in
            let keyring = service.keyring
            let first = try await keyring.signer().kid
            clock.advance(by: 1)
            let second = try await keyring.rotate()
            // Token lifetime (600 s) + verifier leeway (30 s) + signer refresh (30 s).
            #expect(keyring.retention == 660)
            clock.advance(by: 659)
            #expect(Set(try await Self.jwks(client).kids) == [first, second])
            clock.advance(by: 1)
            #expect(try await Self.jwks(client).kids == [second])

            // The next rotation records the retirement; the retired key never comes back.
            let third = try await keyring.rotate()
            #expect(Set(try await Self.jwks(client).kids) == [second, third])
            let retired = try await service.database.read { sql in
                try await sql.select().column("kid").from("signing_keys")
                    .where(SQLColumn("retired_at"), .isNot, SQLLiteral.null).all()
                    .map { try $0.decode(column: "kid", as: String.self) }
            }
            #expect(retired == [first])
            #expect(try await keyring.signer().kid == third)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aRotationByAnotherProcessIsPickedUpWithinTheRefreshInterval(_ engine: DatabaseEngine) async throws {
        let clock = TestClock()
        try await withRawUsersService(engine, now: clock.now) { _, service in
            let first = try await service.keyring.signer().kid
            // `meridian keys rotate-signing` works on the database with a keyring of its own.
            let offline = SigningKeyring(
                database: service.database, cipher: service.cipher, accessTokenLifetime: 600, now: clock.now)
            let rotated = try await offline.rotate()
            #expect(try await service.keyring.signer().kid == first)
            clock.advance(by: 30)
            #expect(try await service.keyring.signer().kid == rotated)
        }
    }

    @Test func keyIDsAreRFC7638Thumbprints() throws {
        // RFC 7638 section 3.1 uses an RSA key; this checks the EC member order and encoding on a fixed key.
        let key = try P256PublicKeyFixture.key()
        #expect(PublicSigningKey.thumbprint(of: key) == P256PublicKeyFixture.thumbprint)
    }
}

/// The P-256 key of RFC 7517 appendix A.1 and its RFC 7638 thumbprint, computed independently (Python's
/// hashlib over `{"crv":"P-256","kty":"EC","x":"…","y":"…"}`, base64url without padding).
enum P256PublicKeyFixture {
    static let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
    static let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
    static let thumbprint = "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"

    static func key() throws -> P256.Signing.PublicKey {
        let raw = try #require(base64URLDecode(x)) + (try #require(base64URLDecode(y)))
        return try P256.Signing.PublicKey(rawRepresentation: raw)
    }
}
