import Foundation
import Hummingbird
import MeridianKit
import NIOCore

/// Discovery: the authorization server metadata (RFC 8414, also at the OpenID Connect path that many client
/// libraries try first) and the public signing keys (RFC 7517).
struct WellKnownRoutes: Sendable {
    let keyring: SigningKeyring
    let settings: AuthorizationServerSettings

    func register(on router: Router<MeridianRequestContext>) {
        router.get(".well-known/oauth-authorization-server", use: metadata)
        router.get(".well-known/openid-configuration", use: metadata)
        router.get(".well-known/jwks.json", use: jwks)
    }

    struct Metadata: Encodable {
        let issuer: String
        let authorizationEndpoint: String
        let tokenEndpoint: String
        let revocationEndpoint: String
        let introspectionEndpoint: String
        let jwksUri: String
        let responseTypesSupported = ["code"]
        let responseModesSupported = ["query"]
        let grantTypesSupported = ["authorization_code", "refresh_token", "client_credentials"]
        let codeChallengeMethodsSupported = [PKCE.method]
        let tokenEndpointAuthMethodsSupported = ClientAuthenticator.methods
        let revocationEndpointAuthMethodsSupported = ClientAuthenticator.methods
        let introspectionEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post"]
        let authorizationResponseIssParameterSupported = true
        let accessTokenSigningAlgValuesSupported = ["ES256"]
    }

    @Sendable func metadata(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        let body = Metadata(
            issuer: settings.issuer, authorizationEndpoint: settings.endpoint("/oauth/authorize"),
            tokenEndpoint: settings.endpoint("/oauth/token"), revocationEndpoint: settings.endpoint("/oauth/revoke"),
            introspectionEndpoint: settings.endpoint("/oauth/introspect"),
            jwksUri: settings.endpoint("/.well-known/jwks.json"))
        return try Response.json(body, headers: [.cacheControl: "public, max-age=3600"])
    }

    struct KeySet: Encodable {
        let keys: [PublicSigningKey]
    }

    /// Read from the database on every request, so a rotation is visible at once; verifiers fetch this rarely
    /// (on start, on an unknown `kid`, and when their copy ages), so the cost does not matter.
    @Sendable func jwks(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        let keys = try await keyring.published()
        let body = try JSONEncoder().encode(KeySet(keys: keys))
        return Response(
            status: .ok,
            headers: [.contentType: "application/jwk-set+json", .cacheControl: "public, max-age=60"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
