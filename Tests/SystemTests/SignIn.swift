import Crypto
import Foundation
import MeridianKit
import NIOHTTP1

/// Obtains an access token the way a browser and an app would: the authorization-code flow with PKCE
/// through the gateway, filling in the HTML login form with its CSRF cookie, then the code exchange.
struct SignIn: Sendable {
    let gatewayURL: String
    static let clientID = "meridian-cli"
    static let redirectURI = "http://127.0.0.1:9/callback"

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    func accessToken(email: String, password: String) async throws -> String {
        let client = APIClient(baseURL: gatewayURL, token: nil)
        let verifier = OpaqueRandom.make()
        let challenge = SignIn.base64URL(Data(SHA256.hash(data: Data(verifier.utf8))))
        let state = OpaqueRandom.make()
        let query = SignIn.formEncode([
            ("response_type", "code"), ("client_id", SignIn.clientID), ("redirect_uri", SignIn.redirectURI),
            ("code_challenge", challenge), ("code_challenge_method", "S256"), ("state", state),
        ])
        let page = try await client.send(.GET, "/oauth/authorize?" + query)
        guard page.status == 200 else { throw Failure(description: "authorize answered \(page.status)") }
        let cookies = page.headers["Set-Cookie"].compactMap { $0.split(separator: ";").first.map(String.init) }
        var form = SignIn.hiddenFields(in: String(buffer: page.body))
        form.append(("email", email))
        form.append(("password", password))
        let submitted = try await client.send(
            .POST, "/oauth/authorize", form: form, headers: [("Cookie", cookies.joined(separator: "; "))])
        guard submitted.status == 302 || submitted.status == 303,
            let location = submitted.headers.first(name: "Location"),
            let components = URLComponents(string: location),
            components.queryItems?.first(where: { $0.name == "state" })?.value == state,
            let code = components.queryItems?.first(where: { $0.name == "code" })?.value
        else { throw Failure(description: "the login form answered \(submitted.status)") }
        let exchanged = try await client.send(
            .POST, "/oauth/token",
            form: [
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", SignIn.redirectURI),
                ("client_id", SignIn.clientID), ("code_verifier", verifier),
            ])
        guard exchanged.status == 200, let token = exchanged.json["access_token"] as? String else {
            throw Failure(description: "the token endpoint answered \(exchanged.status)")
        }
        return token
    }

    /// The hidden inputs of the login form (the CSRF token and the authorization request).
    static func hiddenFields(in html: String) -> [(String, String)] {
        let pattern = #/<input type="hidden" name="([^"]+)" value="([^"]*)">/#
        return html.matches(of: pattern).map { (unescape(String($0.output.1)), unescape(String($0.output.2))) }
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&#x2F;", with: "/").replacingOccurrences(of: "&#x3D;", with: "=")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    static func formEncode(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.map { name, value in
            "\(name.addingPercentEncoding(withAllowedCharacters: allowed)!)=\(value.addingPercentEncoding(withAllowedCharacters: allowed)!)"
        }.joined(separator: "&")
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

enum OpaqueRandom {
    /// 32 random bytes, base64url: a PKCE verifier or a state value.
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return SignIn.base64URL(Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }))
    }
}
