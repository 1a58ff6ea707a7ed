import Foundation
import HTTPTypes
import Hummingbird

/// Who is calling the token, revocation or introspection endpoint (RFC 6749 section 2.3). Confidential clients
/// send their secret with HTTP Basic (`client_secret_basic`) or in the form (`client_secret_post`), never both;
/// public clients send only `client_id` and prove themselves later with PKCE.
struct ClientAuthenticator: Sendable {
    let clients: any ClientRepository
    let hasher: PasswordHasher
    let decoy: DecoyPasswordHash

    static let methods = ["client_secret_basic", "client_secret_post", "none"]

    struct Authenticated: Sendable {
        let client: OAuthClient
        /// True when a secret was checked: the client is confidential and proved it.
        let withSecret: Bool
    }

    func authenticate(_ headers: HTTPFields, form: FormEncoding.Fields) async throws -> Result<Authenticated, OAuthError> {
        let presented: (id: String, secret: String?)
        switch ClientAuthenticator.credentials(headers, form: form) {
        case .failure(let error): return .failure(error)
        case .success(let credentials): presented = credentials
        }
        guard let (client, secretHash) = try await clients.find(id: presented.id) else {
            // As slow as a real check, so probing for client ids gains nothing from timing.
            if let secret = presented.secret { try await decoy.verify(secret) }
            return .failure(ClientAuthenticator.failed)
        }
        switch client.kind {
        case .public:
            guard presented.secret == nil else {
                return .failure(OAuthError(.invalidClient, "A public client has no secret; send only client_id."))
            }
            return .success(Authenticated(client: client, withSecret: false))
        case .confidential:
            guard let secret = presented.secret, let secretHash else { return .failure(ClientAuthenticator.failed) }
            guard secret.utf8.count <= 72, try await hasher.verify(secret, hash: secretHash) else {
                return .failure(ClientAuthenticator.failed)
            }
            return .success(Authenticated(client: client, withSecret: true))
        }
    }

    /// One message for every authentication failure, so the answer does not reveal which part was wrong.
    static let failed = OAuthError(.invalidClient, "Client authentication failed.")

    static func credentials(
        _ headers: HTTPFields, form: FormEncoding.Fields
    ) -> Result<(id: String, secret: String?), OAuthError> {
        for name in ["client_id", "client_secret"] where form.repeated.contains(name) {
            return .failure(OAuthError(.invalidRequest, "The parameter \(name) is given more than once."))
        }
        let authorization = headers[values: .authorization]
        guard !authorization.isEmpty else {
            guard let id = form["client_id"], !id.isEmpty else {
                return .failure(OAuthError(.invalidClient, "Identify the client with client_id or HTTP Basic."))
            }
            return .success((id, form["client_secret"]))
        }
        guard authorization.count == 1, let basic = basic(authorization[0]) else {
            return .failure(OAuthError(.invalidClient, "The Authorization header must be HTTP Basic client credentials."))
        }
        if form["client_secret"] != nil {
            return .failure(OAuthError(.invalidRequest, "Use one client authentication method, not two."))
        }
        if let id = form["client_id"], id != basic.id {
            return .failure(OAuthError(.invalidRequest, "client_id does not match the Basic credentials."))
        }
        return .success((basic.id, basic.secret))
    }

    /// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 section 2.3.1).
    static func basic(_ value: String) -> (id: String, secret: String)? {
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let data = Data(base64Encoded: parts[1].trimmingCharacters(in: .whitespaces)),
            let text = String(data: data, encoding: .utf8),
            let colon = text.firstIndex(of: ":"),
            let id = FormEncoding.decode(text[..<colon]), !id.isEmpty,
            let secret = FormEncoding.decode(text[text.index(after: colon)...])
        else { return nil }
        return (id, secret)
    }
}
