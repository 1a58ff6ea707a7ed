import Foundation
import MeridianKit

/// The knobs of the authorization server. The defaults are the documented ones; tests shorten or lengthen them
/// instead of waiting on the clock.
struct AuthorizationServerSettings: Sendable {
    /// The public base URL (`iss` of every token, prefix of every endpoint in the metadata).
    var issuer: String
    var accessTokenLifetime: TimeInterval = IssuedAccessToken.lifetime
    var codeLifetime: TimeInterval = AuthorizationCode.lifetime
    var refreshTokenLifetime: TimeInterval = RefreshToken.lifetime
    var accountThrottle: LoginThrottle = .perAccount
    var addressThrottle: LoginThrottle = .perAddress
    /// How long the login form's CSRF cookie lives: long enough to type a password, short enough to expire.
    var csrfCookieLifetime: Int = 3600

    /// Cookies get `Secure` (and the `__Host-` prefix) whenever the issuer is served over HTTPS.
    var secureCookies: Bool { issuer.hasPrefix("https://") }

    var csrfCookieName: String { secureCookies ? "__Host-meridian-csrf" : "meridian-csrf" }

    func endpoint(_ path: String) -> String { issuer + path }

    struct InvalidIssuer: Error, CustomStringConvertible {
        let description: String
    }

    /// An issuer is an http(s) URL without query or fragment (RFC 8414 section 2); a trailing slash is dropped so
    /// that endpoints join cleanly.
    static func normalizedIssuer(_ text: String) throws -> String {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "https" || scheme == "http", let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil, components.user == nil
        else {
            throw InvalidIssuer(
                description: "the issuer must be an http(s) URL without query or fragment, like https://api.example.com")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }
}
