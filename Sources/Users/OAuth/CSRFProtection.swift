import Foundation
import HTTPTypes
import Hummingbird

/// The login form's CSRF defence: a random value in an HttpOnly, SameSite=Strict cookie, and in the form an
/// HMAC of that value under a key only the server has. A forged cross-site POST carries neither the cookie
/// (SameSite) nor a token matching it (the key), so it cannot sign a victim in to the attacker's account.
struct CSRFProtection: Sendable {
    let secrets: ServiceSecrets
    let settings: AuthorizationServerSettings

    static let secretName = "csrf"
    static let fieldName = "csrf_token"

    /// The cookie value to use: the browser's current one when it is sound (so two open tabs both work),
    /// otherwise a new one, which the response must then set.
    func cookieValue(_ request: Request) -> (value: String, isNew: Bool) {
        if let existing = request.cookies[settings.csrfCookieName]?.value, OpaqueToken.isWellFormed(existing) {
            return (existing, false)
        }
        return (OpaqueToken.make(), true)
    }

    func token(for cookieValue: String) async throws -> String {
        try await secrets.mac(cookieValue, key: CSRFProtection.secretName)
    }

    /// Whether the form's token belongs to the cookie the browser sent.
    func isValid(_ request: Request, formToken: String?) async throws -> Bool {
        guard let formToken, let cookie = request.cookies[settings.csrfCookieName]?.value,
            OpaqueToken.isWellFormed(cookie)
        else { return false }
        return ConstantTime.equals(try await token(for: cookie), formToken)
    }

    func cookie(_ value: String) -> Cookie {
        Cookie(
            name: settings.csrfCookieName, value: value, maxAge: settings.csrfCookieLifetime, path: "/",
            secure: settings.secureCookies, httpOnly: true, sameSite: .strict)
    }
}
