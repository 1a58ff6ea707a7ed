import Foundation
import HTTPTypes
import HummingbirdTesting
import JWTKit
import MeridianKit
import NIOCore

/// Real ES256 access tokens for the tests, signed with a fresh P-256 key the way the users service signs them.
/// The service under test verifies them with a `StaticKeyTokenVerifier` holding the same key: every check of
/// production (algorithm, signature, issuer, audience, expiry) runs; only the key comes from here instead of the
/// users service's JWKS. Shared by every service's tests.
public final class TestTokens: Sendable {
    public static let issuer = "https://meridian.test"
    public static let keyID = "test-key"

    public let keys = JWTKeyCollection()
    let key = ES256PrivateKey()

    private init() {}

    public static func make() async -> TestTokens {
        let tokens = TestTokens()
        await tokens.keys.add(ecdsa: tokens.key, kid: JWKIdentifier(string: keyID))
        return tokens
    }

    /// What the service is given to check tokens with.
    public var verifier: StaticKeyTokenVerifier { StaticKeyTokenVerifier(keys: keys, issuer: TestTokens.issuer) }

    public func token(
        subject: String, roles: [String], permissions: [Permission], issuedAt: Date = Date(),
        lifetime: TimeInterval = 600, clientID: String = "cli_test"
    ) async throws -> String {
        let claims = AccessTokenClaims(
            issuer: TestTokens.issuer, subject: subject, issuedAt: issuedAt,
            expiresAt: issuedAt.addingTimeInterval(lifetime), tokenID: "tok_\(UUID().uuidString)",
            clientID: clientID, scope: "openid", roles: roles, permissions: permissions)
        return try await keys.sign(claims, kid: JWKIdentifier(string: TestTokens.keyID))
    }

    /// A token of a built-in role, carrying that role's permissions as the users service would issue it.
    public func token(_ role: BuiltInRole, subject: String, issuedAt: Date = Date()) async throws -> String {
        try await token(
            subject: subject, roles: [role.rawValue], permissions: role.permissions.sorted(), issuedAt: issuedAt)
    }

    /// The public half of the key as a JWKS document, as the users service publishes it.
    public func jwksJSON() throws -> ByteBuffer {
        guard let parameters = key.parameters else { throw NotAToken() }
        let jwk = JWK.ecdsa(
            .es256, identifier: JWKIdentifier(string: TestTokens.keyID), x: parameters.x, y: parameters.y,
            curve: .p256)
        let encoded = String(decoding: try JSONEncoder().encode(jwk), as: UTF8.self)
        return ByteBuffer(string: #"{"keys":["# + encoded + "]}")
    }

    /// `token` with its payload rewritten to grant every permission and its signature left as it was: what an
    /// attacker who edits a token gets.
    public static func tampered(_ token: String) throws -> String {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, var payload = Data(base64URL: parts[1]),
            var claims = try JSONSerialization.jsonObject(with: payload) as? [String: Any]
        else { throw NotAToken() }
        claims["permissions"] = Permission.all.map(\.rawValue)
        claims["roles"] = ["admin"]
        payload = try JSONSerialization.data(withJSONObject: claims)
        return [parts[0], payload.base64URLEncoded, parts[2]].joined(separator: ".")
    }

    public struct NotAToken: Error {}
}

extension Data {
    /// Base64url without padding (RFC 7515 section 2).
    public init?(base64URL text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        self.init(base64Encoded: base64)
    }

    public var base64URLEncoded: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// A test client that sends `Authorization` with every request that does not carry one already.
public struct BearerClient: TestClientProtocol {
    let base: any TestClientProtocol
    /// The header value, or nil for anonymous requests.
    let authorization: String?

    public init(_ base: any TestClientProtocol, token: String?) {
        self.base = base
        self.authorization = token.map { "Bearer \($0)" }
    }

    public func executeRequest(
        uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?
    ) async throws -> TestResponse {
        var headers = headers
        if let authorization, headers[.authorization] == nil { headers[.authorization] = authorization }
        return try await base.executeRequest(uri: uri, method: method, headers: headers, body: body)
    }

    public var port: Int? { base.port }
}
