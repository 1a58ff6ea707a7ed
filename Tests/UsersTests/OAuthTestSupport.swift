import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import MeridianKit
import MeridianTestSupport
import NIOCore
import SQLKit
import Synchronization
import Testing

@testable import Users

/// A clock the test moves by hand, so expiry and throttling are tested without waiting.
final class TestClock: Sendable {
    private let current: Mutex<Date>
    /// Starts on a whole second, so stored microseconds and computed delays come out exact.
    init(_ start: Date = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))) {
        current = Mutex(start)
    }
    func now() -> Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// A PKCE verifier and its S256 challenge, computed here independently of the server's code.
struct PKCEPair {
    let verifier: String
    let challenge: String

    static func make() -> PKCEPair {
        let verifier = (0..<64).map { _ in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~".randomElement()! }
        let text = String(verifier)
        let digest = SHA256Digest.of(text)
        return PKCEPair(verifier: text, challenge: digest)
    }
}

enum SHA256Digest {
    /// BASE64URL(SHA256(text)), computed here rather than with the server's PKCE type.
    static func of(_ text: String) -> String {
        Data(SHA256.hash(data: Data(text.utf8))).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

let loopbackRedirect = "http://127.0.0.1:49152/callback"
let testPassword = "correct horse battery"

/// Creates an account straight in the repository (the OAuth tests are about signing in, not signing up).
@discardableResult
func createAccount(
    _ service: UsersService, email: String, password: String = testPassword, roles: [String] = ["customer"]
) async throws -> String {
    let now = UsersRoutes.now()
    let user = User(
        id: Identifier.make(prefix: User.idPrefix), email: email, name: "Test User", roles: roles, version: 1,
        createdAt: now, updatedAt: now)
    guard case .success(let address) = EmailAddress.parse(email) else { throw TestFailure("bad email \(email)") }
    try await service.repository.create(user, email: address, passwordHash: try await service.hasher.hash(password))
    return user.id
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `/oauth/authorize?…` with the given parameters (nil leaves one out).
func authorizeURI(
    clientID: String? = OAuthClient.cliID, redirectURI: String? = loopbackRedirect, responseType: String? = "code",
    challenge: String? = PKCEPair.make().challenge, method: String? = "S256", state: String? = "state-123",
    scope: String? = nil, extra: [(String, String)] = []
) -> String {
    var parameters: [(String, String)] = []
    if let responseType { parameters.append(("response_type", responseType)) }
    if let clientID { parameters.append(("client_id", clientID)) }
    if let redirectURI { parameters.append(("redirect_uri", redirectURI)) }
    if let challenge { parameters.append(("code_challenge", challenge)) }
    if let method { parameters.append(("code_challenge_method", method)) }
    if let state { parameters.append(("state", state)) }
    if let scope { parameters.append(("scope", scope)) }
    return "/oauth/authorize?" + formEncode(parameters + extra)
}

func formEncode(_ parameters: [(String, String)]) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return parameters.map { name, value in
        "\(name.addingPercentEncoding(withAllowedCharacters: allowed)!)=\(value.addingPercentEncoding(withAllowedCharacters: allowed)!)"
    }.joined(separator: "&")
}

let formHeaders: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

/// The sign-in form as a browser holds it: its hidden fields and the CSRF cookie the page set.
struct LoginForm {
    var fields: [(String, String)]
    var cookie: String?

    subscript(_ name: String) -> String? { fields.first { $0.0 == name }?.1 }

    mutating func set(_ name: String, _ value: String?) {
        fields.removeAll { $0.0 == name }
        if let value { fields.append((name, value)) }
    }
}

/// The hidden inputs of an HTML page, with the entity escapes swift-mustache produces undone.
func hiddenFields(_ html: String) -> [(String, String)] {
    let pattern = #"<input type="hidden" name="([^"]*)" value="([^"]*)">"#
    let regex = try! NSRegularExpression(pattern: pattern)
    let range = NSRange(html.startIndex..., in: html)
    return regex.matches(in: html, range: range).map { match in
        (unescapeHTML(String(html[Range(match.range(at: 1), in: html)!])),
         unescapeHTML(String(html[Range(match.range(at: 2), in: html)!])))
    }
}

func unescapeHTML(_ text: String) -> String {
    text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
        .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
        .replacingOccurrences(of: "&amp;", with: "&")
}

/// `name=value` of the first `Set-Cookie`.
func cookiePair(_ response: TestResponse) -> String? {
    response.headers[values: .setCookie].first.flatMap { $0.split(separator: ";").first.map(String.init) }
}

/// The query parameters of a redirect's `Location`.
func redirectParameters(_ response: TestResponse) throws -> [String: String] {
    let location = try #require(response.headers[.location])
    let components = try #require(URLComponents(string: location))
    var parameters: [String: String] = [:]
    for item in components.queryItems ?? [] { parameters[item.name] = item.value ?? "" }
    return parameters
}

extension TestClientProtocol {
    /// GET /oauth/authorize, expecting the sign-in form.
    func openLoginForm(_ uri: String = authorizeURI()) async throws -> LoginForm {
        let response = try await execute(uri: uri, method: .get)
        #expect(response.status == .ok, "GET \(uri)")
        return LoginForm(fields: hiddenFields(String(buffer: response.body)), cookie: cookiePair(response))
    }

    func submitLogin(_ form: LoginForm, email: String, password: String, headers extra: HTTPFields = [:]) async throws
        -> TestResponse
    {
        var headers = formHeaders
        if let cookie = form.cookie { headers[.cookie] = cookie }
        headers.append(contentsOf: extra)
        let body = formEncode(form.fields + [("email", email), ("password", password)])
        return try await execute(uri: "/oauth/authorize", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    /// The whole browser part of the flow: form, credentials, redirect. Returns the code.
    func authorizationCode(
        email: String, password: String = testPassword, pkce: PKCEPair, redirectURI: String = loopbackRedirect,
        clientID: String = OAuthClient.cliID, state: String = "state-123"
    ) async throws -> String {
        let form = try await openLoginForm(
            authorizeURI(clientID: clientID, redirectURI: redirectURI, challenge: pkce.challenge, state: state))
        let response = try await submitLogin(form, email: email, password: password)
        #expect(response.status == .found)
        let parameters = try redirectParameters(response)
        #expect(parameters["state"] == state)
        return try #require(parameters["code"])
    }

    /// POST /oauth/token with form parameters.
    func tokenRequest(_ parameters: [(String, String)], headers extra: HTTPFields = [:]) async throws -> TestResponse {
        var headers = formHeaders
        headers.append(contentsOf: extra)
        return try await execute(
            uri: "/oauth/token", method: .post, headers: headers, body: ByteBuffer(string: formEncode(parameters)))
    }

    func exchange(
        code: String, verifier: String?, redirectURI: String = loopbackRedirect, clientID: String = OAuthClient.cliID
    ) async throws -> TestResponse {
        var parameters = [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("client_id", clientID),
        ]
        if let verifier { parameters.append(("code_verifier", verifier)) }
        return try await tokenRequest(parameters)
    }

    func refresh(_ token: String, clientID: String = OAuthClient.cliID) async throws -> TestResponse {
        try await tokenRequest([("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", clientID)])
    }

    func introspect(_ token: String, client: RegisteredClient) async throws -> [String: Any] {
        let response = try await execute(
            uri: "/oauth/introspect", method: .post,
            headers: formHeaders + [.authorization: basicAuthorization(client.client.id, client.secret ?? "")],
            body: ByteBuffer(string: formEncode([("token", token)])))
        #expect(response.status == .ok)
        return try object(response)
    }

    func revoke(_ token: String, clientID: String = OAuthClient.cliID) async throws -> TestResponse {
        try await execute(
            uri: "/oauth/revoke", method: .post, headers: formHeaders,
            body: ByteBuffer(string: formEncode([("token", token), ("client_id", clientID)])))
    }
}

func basicAuthorization(_ id: String, _ secret: String) -> String {
    "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString()
}

extension HTTPFields {
    static func + (lhs: HTTPFields, rhs: HTTPFields) -> HTTPFields {
        var merged = lhs
        merged.append(contentsOf: rhs)
        return merged
    }
}

/// The error member of an OAuth error response, after checking the response has the RFC 6749 shape.
func oauthError(_ response: TestResponse) throws -> String {
    #expect(response.headers[.contentType] == "application/json", "\(response.status) \(String(buffer: response.body))")
    #expect(response.headers[.cacheControl] == "no-store")
    return try #require(try object(response)["error"] as? String)
}

func rowCount(_ service: UsersService, _ table: String) async throws -> Int {
    try await service.database.read { sql in
        try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from(table).first()?
            .decode(column: "n", as: Int.self) ?? 0
    }
}
