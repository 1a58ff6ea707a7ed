import Foundation
import HTTPTypes
import Hummingbird
import MeridianKit
import NIOCore

/// `GET /oauth/authorize` shows the sign-in form for a valid authorization request; `POST /oauth/authorize` is
/// that form coming back. Both answer in HTML or with redirects: a browser is on the other end.
struct AuthorizeRoutes: Sendable {
    let database: any Database
    let cipher: FieldCipher
    let clients: any ClientRepository
    let pages: LoginPages
    let csrf: CSRFProtection
    let signIn: SignIn
    let settings: AuthorizationServerSettings
    let now: @Sendable () -> Date
    /// Where issued codes are recorded (`code.issue`), in the transaction that stores the code.
    var audit: AuditLog? = nil

    func register(on router: Router<MeridianRequestContext>) {
        router.get("oauth/authorize", use: show)
        router.post("oauth/authorize", use: submit)
    }

    @Sendable func show(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        guard let fields = FormEncoding.parse(Substring(request.uri.query ?? "")) else {
            return pages.errorPage("The sign-in request is malformed.")
        }
        let authorization: AuthorizationRequest
        switch try await validate(fields) {
        case .done(let response): return response
        case .valid(let valid): authorization = valid
        }
        return try await loginPage(request, authorization)
    }

    @Sendable func submit(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        let fields: FormEncoding.Fields
        switch try await FormRequest.read(request) {
        case .success(let read): fields = read
        case .failure(.unsupportedMediaType): return pages.errorPage("The sign-in form was sent in an unexpected format.", status: .unsupportedMediaType)
        case .failure(.tooLarge): return pages.errorPage("The sign-in form is too large.", status: .contentTooLarge)
        case .failure(.malformed): return pages.errorPage("The sign-in form is malformed.")
        }
        // The hidden fields are as untrusted as the query of the GET: everything is checked again.
        let authorization: AuthorizationRequest
        switch try await validate(fields) {
        case .done(let response): return response
        case .valid(let valid): authorization = valid
        }
        guard try await csrf.isValid(request, formToken: fields[CSRFProtection.fieldName]) else {
            context.logger.notice("login form refused: CSRF token missing or wrong")
            return try await loginPage(
                request, authorization, error: "Your sign-in form expired. Please sign in again.", status: .forbidden)
        }
        let email = fields["email"] ?? ""
        guard let password = fields["password"], !email.isEmpty, !password.isEmpty,
            !fields.repeated.contains("email"), !fields.repeated.contains("password")
        else {
            return try await loginPage(
                request, authorization, email: email, error: "Enter your email and password.", status: .badRequest)
        }
        let outcome = try await signIn.attempt(
            email: email, password: password, sourceAddress: AuthorizeRoutes.sourceAddress(request, context),
            now: now())
        switch outcome {
        case .throttled(let seconds):
            context.logger.notice("login throttled", metadata: ["retry_after": .stringConvertible(seconds)])
            var response = try await loginPage(
                request, authorization, email: email,
                error: "Too many failed sign-in attempts. Try again in \(seconds) seconds.", status: .tooManyRequests)
            response.headers[.retryAfter] = String(seconds)
            return response
        case .rejected:
            context.logger.info("login failed", metadata: ["client_id": .string(authorization.client.id)])
            return try await loginPage(
                request, authorization, email: email, error: "The email or password is incorrect.", status: .badRequest)
        case .signedIn(let userID):
            let code = try await issueCode(authorization, userID: userID)
            context.logger.info(
                "authorization code issued",
                metadata: ["client_id": .string(authorization.client.id), "user_id": .string(userID)])
            return AuthorizeRoutes.redirect(to: authorization.successRedirect(code: code, issuer: settings.issuer))
        }
    }

    enum Validation {
        case valid(AuthorizationRequest)
        case done(Response)
    }

    private func validate(_ fields: FormEncoding.Fields) async throws -> Validation {
        var client: OAuthClient?
        // Client ids are short printable ASCII: anything else names no client (and a NUL would not even reach
        // PostgreSQL), so it gets the same page as an unknown client instead of a storage problem.
        if let id = fields["client_id"], id.utf8.count <= 200, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            client = try await clients.find(id: id)?.client
        }
        switch AuthorizationRequest.validate(fields, client: client) {
        case .valid(let request): return .valid(request)
        case .untrusted(let message): return .done(pages.errorPage(message))
        case .redirect(let uri, let error, let state):
            return .done(
                AuthorizeRoutes.redirect(
                    to: AuthorizationRequest.errorRedirect(to: uri, error, state: state, issuer: settings.issuer)))
        }
    }

    private func loginPage(
        _ request: Request, _ authorization: AuthorizationRequest, email: String = "", error: String? = nil,
        status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let cookie = csrf.cookieValue(request)
        var response = pages.loginPage(
            request: authorization, csrfToken: try await csrf.token(for: cookie.value), email: email, error: error,
            status: status)
        if cookie.isNew { response.setCookie(csrf.cookie(cookie.value)) }
        return response
    }

    private func issueCode(_ authorization: AuthorizationRequest, userID: String) async throws -> String {
        let code = OpaqueToken.make()
        let now = Timestamp.date(micros: Timestamp.micros(now()))
        let stored = AuthorizationCode(
            codeHash: OpaqueToken.hash(code), clientID: authorization.client.id, userID: userID,
            redirectURI: authorization.redirectURI, codeChallenge: authorization.codeChallenge,
            codeChallengeMethod: PKCE.method, scope: Scope.join(authorization.scopes),
            familyID: Identifier.make(prefix: GrantIdentifier.familyPrefix, now: now), createdAt: now,
            expiresAt: now.addingTimeInterval(settings.codeLifetime))
        let cipher = cipher
        let audit = audit
        try await database.transaction { sql in
            try await GrantStore.insert(stored, cipher: cipher, sql)
            try await audit?.append(
                AuditEvent(
                    action: "code.issue", resourceType: "token_family", resourceID: stored.familyID,
                    changes: .object(["client_id": .string(stored.clientID), "scope": .string(stored.scope)])),
                actor: (AuditActor.current ?? .system("users")).acting(as: userID, clientID: stored.clientID),
                on: sql)
        }
        return code
    }

    static func redirect(to location: String) -> Response {
        var headers = OAuthError.noStore
        headers[.location] = location
        headers[.referrerPolicy] = "no-referrer"
        return Response(status: .found, headers: headers)
    }

    /// The address the sign-in came from: the client the gateway saw (the last `for=` of `Forwarded`, which
    /// the gateway appends), or the peer of this connection when nothing forwarded the request. Only the
    /// per-address throttle relies on it; the per-account one holds whatever it says.
    static func sourceAddress(_ request: Request, _ context: MeridianRequestContext) -> String? {
        if let forwarded = request.headers[values: .forwarded].last,
            let element = forwarded.split(separator: ",").last
        {
            for pair in element.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "for" {
                    let value = parts[1].trimmingCharacters(in: .whitespaces)
                        .trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                    if !value.isEmpty, value.utf8.count <= 100 { return value }
                }
            }
        }
        return context.remoteAddress?.ipAddress
    }
}
