import Foundation
import HTTPTypes
import Hummingbird
import MeridianKit
import NIOCore

/// `POST /oauth/token`, `/oauth/revoke` and `/oauth/introspect`: form-encoded requests, JSON answers, errors in
/// the RFC 6749 section 5.2 form, and nothing cached.
struct TokenRoutes: Sendable {
    let authenticator: ClientAuthenticator
    let grants: TokenGrants
    let introspection: TokenIntrospection

    func register(on router: Router<MeridianRequestContext>) {
        router.post("oauth/token", use: token)
        router.post("oauth/revoke", use: revoke)
        router.post("oauth/introspect", use: introspect)
    }

    @Sendable func token(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        let fields: FormEncoding.Fields
        switch try await FormRequest.read(request) {
        case .success(let read): fields = read
        case .failure(let failure): return FormRequest.oauthError(failure).response()
        }
        if let repeated = fields.repeated.first {
            return OAuthError(.invalidRequest, "The parameter \(TokenRoutes.printable(repeated)) is given more than once.").response()
        }
        guard let grantType = fields["grant_type"], !grantType.isEmpty else {
            return OAuthError(.invalidRequest, "grant_type is required.").response()
        }
        guard let grant = OAuthClient.GrantType(rawValue: grantType) else {
            // `password` and `implicit` land here too: Meridian does not implement them (RFC 9700 2.1.2, 2.4).
            return OAuthError(.unsupportedGrantType, "Supported grant types: authorization_code, refresh_token, client_credentials.").response()
        }
        let client: ClientAuthenticator.Authenticated
        switch try await authenticator.authenticate(request.headers, form: fields) {
        case .success(let authenticated): client = authenticated
        case .failure(let error):
            context.logger.info("token request refused: client authentication failed")
            return error.response()
        }
        let outcome: TokenGrants.Outcome
        switch grant {
        case .authorizationCode: outcome = try await grants.authorizationCode(fields, client: client.client)
        case .refreshToken: outcome = try await grants.refreshToken(fields, client: client.client)
        case .clientCredentials: outcome = try await grants.clientCredentials(fields, client: client)
        }
        switch outcome {
        case .success(let tokens):
            context.logger.info(
                "tokens issued", metadata: ["client_id": .string(client.client.id), "grant_type": .string(grantType)])
            var headers = OAuthError.noStore
            headers[.contentType] = "application/json"
            let body = try JSONEncoder().encode(tokens)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        case .failure(let error):
            context.logger.info(
                "token request refused",
                metadata: ["client_id": .string(client.client.id), "error": .string(error.code.rawValue)])
            return error.response()
        }
    }

    @Sendable func revoke(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        let fields: FormEncoding.Fields
        switch try await FormRequest.read(request) {
        case .success(let read): fields = read
        case .failure(let failure): return FormRequest.oauthError(failure).response()
        }
        let client: ClientAuthenticator.Authenticated
        switch try await authenticator.authenticate(request.headers, form: fields) {
        case .success(let authenticated): client = authenticated
        case .failure(let error): return error.response()
        }
        guard let token = fields["token"], !token.isEmpty, !fields.repeated.contains("token") else {
            return OAuthError(.invalidRequest, "token is required, once.").response()
        }
        try await introspection.revoke(token, client: client.client)
        return Response(status: .ok, headers: OAuthError.noStore)
    }

    @Sendable func introspect(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        let fields: FormEncoding.Fields
        switch try await FormRequest.read(request) {
        case .success(let read): fields = read
        case .failure(let failure): return FormRequest.oauthError(failure).response()
        }
        switch try await authenticator.authenticate(request.headers, form: fields) {
        case .success(let client) where client.withSecret: break
        case .success:
            // RFC 7662 section 4: the endpoint must not become a token-scanning oracle for anyone who can name a
            // public client, so only clients with a secret may ask.
            return OAuthError(.invalidClient, "Introspection is only for confidential clients.").response()
        case .failure(let error): return error.response()
        }
        guard let token = fields["token"], !token.isEmpty, !fields.repeated.contains("token") else {
            return OAuthError(.invalidRequest, "token is required, once.").response()
        }
        return TokenIntrospection.json(try await introspection.introspect(token))
    }

    /// A parameter name fit for an error description (RFC 6749 restricts its characters).
    static func printable(_ name: String) -> String {
        let cleaned = name.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "\\" }
        return String(String.UnicodeScalarView(cleaned.prefix(50)))
    }
}
