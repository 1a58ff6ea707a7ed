import Foundation
import HTTPTypes
import Hummingbird
import MeridianKit

/// `/api/clients`: register and list OAuth clients (permission `clients:manage`).
struct ClientRoutes: Sendable {
    let clients: any ClientRepository
    let registration: ClientRegistration

    func register(on router: some RouterMethods<MeridianRequestContext>) {
        let group = router.group("api/clients")
        group.post(use: create)
        group.get(use: list)
    }

    /// A client as the API shows it. `client_secret` appears only in the answer to its creation.
    struct ClientResource: Encodable, Sendable {
        let id: String
        let name: String
        let type: String
        let redirectUris: [String]
        let allowedScopes: [String]
        let grantTypes: [String]
        let createdAt: Date
        let clientSecret: String?

        init(_ client: OAuthClient, secret: String? = nil) {
            id = client.id
            name = client.name
            type = client.kind.rawValue
            redirectUris = client.redirectURIs
            allowedScopes = client.allowedScopes
            grantTypes = client.grantTypes.map(\.rawValue)
            createdAt = client.createdAt
            clientSecret = secret
        }
    }

    @Sendable func create(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        var body = try await request.fieldReader(context: context)
        let name = body.string("name", minLength: 0, maxLength: .max)
        let kind = body.string("type", minLength: 0, maxLength: 20).flatMap { text -> OAuthClient.Kind? in
            guard let kind = OAuthClient.Kind(rawValue: text) else {
                body.fail("type", "must be public or confidential")
                return nil
            }
            return kind
        }
        let redirectURIs = body.strings("redirect_uris", required: false, maxCount: ClientRegistration.maxRedirectURIs)
        let scopes = body.strings("allowed_scopes", required: false, maxCount: Scope.maxTokens, maxLength: Scope.maxTokenLength)
        var grantTypes: [OAuthClient.GrantType]?
        if let names = body.strings("grant_types", required: false, maxCount: 3, maxLength: 50) {
            grantTypes = []
            for (index, name) in names.enumerated() {
                if let grant = OAuthClient.GrantType(rawValue: name) {
                    grantTypes?.append(grant)
                } else {
                    body.fail("grant_types[\(index)]", "must be authorization_code, refresh_token or client_credentials")
                }
            }
        }
        try body.finish()
        guard let name, let kind else { throw Problem.validation(body.errors) }
        let registered: RegisteredClient
        do {
            registered = try await registration.register(
                name: name, kind: kind, redirectURIs: redirectURIs ?? [], scopes: scopes, grantTypes: grantTypes)
        } catch let invalid as ClientRegistration.Invalid {
            throw Problem.validation(invalid.errors)
        }
        context.logger.info("oauth client registered", metadata: ["client_id": .string(registered.client.id)])
        // The secret is in this body and nowhere else: no cache may keep it.
        return try Response.json(
            ClientResource(registered.client, secret: registered.secret), status: .created,
            headers: [.cacheControl: "no-store"])
    }

    @Sendable func list(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        var query = QueryReader(request, known: PageRequest.parameters)
        let page = PageRequest(reading: &query)
        try query.finish()
        let clients = try await clients.list(after: page.after, limit: page.limit + 1)
        return try Response.json(page.page(clients.map { ClientResource($0) }, id: \.id))
    }
}
