import Foundation

/// A validated authorization request (RFC 6749 section 4.1.1 with RFC 7636): everything the login form carries
/// in hidden fields and checks again when it comes back.
struct AuthorizationRequest: Sendable, Equatable {
    let client: OAuthClient
    /// Exactly as the client sent it (a loopback URI keeps its port): the code goes there, and the token request
    /// must repeat it.
    let redirectURI: String
    let scopes: [String]
    let state: String?
    let codeChallenge: String

    /// The parameters that travel through the login form.
    static let parameterNames = [
        "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method",
    ]

    var hiddenFields: [(String, String)] {
        var fields = [
            ("response_type", "code"), ("client_id", client.id), ("redirect_uri", redirectURI),
            ("scope", Scope.join(scopes)), ("code_challenge", codeChallenge),
            ("code_challenge_method", PKCE.method),
        ]
        if let state { fields.append(("state", state)) }
        return fields
    }

    static let maxStateLength = 2000

    /// What a request turned out to be.
    enum Outcome: Sendable, Equatable {
        case valid(AuthorizationRequest)
        /// The client or redirect URI cannot be trusted: the error is shown to the user, never redirected
        /// (RFC 6749 section 4.1.2.1, RFC 9700 section 4.11.2).
        case untrusted(String)
        /// The redirect URI is sound: the error goes back to the client there, with `state`.
        case redirect(to: String, OAuthError, state: String?)
    }

    /// Validates the parameters in the order the RFCs require: client and redirect URI first, since nothing
    /// may be redirected before both are known good.
    static func validate(_ fields: FormEncoding.Fields, client lookup: OAuthClient?) -> Outcome {
        guard let clientID = fields["client_id"], !clientID.isEmpty else {
            return .untrusted("The request does not say which application is asking (client_id is missing).")
        }
        guard !fields.repeated.contains("client_id"), let client = lookup, client.id == clientID else {
            return .untrusted("The application asking to sign you in is not registered here.")
        }
        guard client.allows(.authorizationCode) else {
            return .untrusted("This application is not allowed to sign users in.")
        }
        // Required even when one URI is registered: the token request must then name the same one.
        guard let redirectURI = fields["redirect_uri"], !fields.repeated.contains("redirect_uri"),
            RedirectURI.match(redirectURI, in: client.redirectURIs) != nil
        else {
            return .untrusted("The address the application asked to return to is not registered for it.")
        }

        let state = fields["state"]
        func fail(_ code: OAuthError.Code, _ description: String) -> Outcome {
            .redirect(to: redirectURI, OAuthError(code, description), state: state)
        }
        if let repeated = fields.repeated.first(where: parameterNames.contains) {
            return fail(.invalidRequest, "The parameter \(repeated) is given more than once.")
        }
        if let state, state.utf8.count > maxStateLength {
            return fail(.invalidRequest, "state must be at most \(maxStateLength) bytes.")
        }
        guard let responseType = fields["response_type"] else {
            return fail(.invalidRequest, "response_type is required.")
        }
        guard responseType == "code" else {
            return fail(.unsupportedResponseType, "Only response_type=code is supported.")
        }
        guard let challenge = fields["code_challenge"], !challenge.isEmpty else {
            return fail(.invalidRequest, "PKCE is required: send code_challenge with code_challenge_method=S256.")
        }
        // A missing method means `plain` (RFC 7636 section 4.3), which is refused like an explicit one.
        guard fields["code_challenge_method"] == PKCE.method else {
            return fail(.invalidRequest, "code_challenge_method must be S256; plain is not supported.")
        }
        guard PKCE.isValidS256Challenge(challenge) else {
            return fail(.invalidRequest, "code_challenge must be 43 base64url characters (an S256 challenge).")
        }
        var requested: [String]?
        if let scope = fields["scope"], !scope.isEmpty {
            guard let parsed = Scope.parse(scope) else { return fail(.invalidScope, "scope is malformed.") }
            requested = parsed
        }
        guard let scopes = client.grantableScopes(requested) else {
            return fail(.invalidScope, "The application may not ask for one of these scopes.")
        }
        return .valid(
            AuthorizationRequest(
                client: client, redirectURI: redirectURI, scopes: scopes, state: state, codeChallenge: challenge))
    }

    /// The redirect carrying an error back to the client (RFC 6749 section 4.1.2.1), with `iss` (RFC 9207) so a
    /// client talking to several servers can tell which one answered.
    static func errorRedirect(to uri: String, _ error: OAuthError, state: String?, issuer: String) -> String {
        var parameters = [("error", error.code.rawValue), ("error_description", error.description)]
        if let state { parameters.append(("state", state)) }
        parameters.append(("iss", issuer))
        return RedirectURI.appending(parameters, to: uri)
    }

    func successRedirect(code: String, issuer: String) -> String {
        var parameters = [("code", code)]
        if let state { parameters.append(("state", state)) }
        parameters.append(("iss", issuer))
        return RedirectURI.appending(parameters, to: redirectURI)
    }
}
