import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The server-rendered pages of the authorization endpoint: the sign-in form and the error page shown when a
/// request cannot be sent back to the client. swift-mustache escapes every `{{value}}` for HTML, so nothing a
/// client or user sends can become markup. The pages work without JavaScript (there is none), and are served
/// with a Content-Security-Policy that allows only their own inline style and form.
struct LoginPages: Sendable {
    let login: MustacheTemplate
    let error: MustacheTemplate
    /// The CSP `style-src` hash of the one inline style sheet.
    let styleHash: String

    init() throws {
        login = try MustacheTemplate(string: LoginPages.loginTemplate)
        error = try MustacheTemplate(string: LoginPages.errorTemplate)
        styleHash = "'sha256-" + Data(SHA256.hash(data: Array(LoginPages.style.utf8))).base64EncodedString() + "'"
    }

    struct HiddenField {
        let name: String
        let value: String
    }

    /// What the sign-in template reads (by property name).
    struct LoginView {
        let style: String
        let clientName: String
        let error: String?
        let email: String
        let csrfToken: String
        let fields: [HiddenField]
    }

    struct ErrorView {
        let style: String
        let message: String
    }

    func loginPage(
        request: AuthorizationRequest, csrfToken: String, email: String = "", error: String? = nil,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        let view = LoginView(
            style: LoginPages.style, clientName: request.client.name, error: error, email: email, csrfToken: csrfToken,
            fields: request.hiddenFields.map { HiddenField(name: $0.0, value: $0.1) })
        // Chrome applies form-action to the redirect that follows the submission too, so the client's origin
        // must be allowed beside our own.
        let target = RedirectURI.origin(of: request.redirectURI).map { " " + $0 } ?? ""
        return html(login.render(view), status: status, formAction: "'self'" + target)
    }

    func errorPage(_ message: String, status: HTTPResponse.Status = .badRequest, headers: HTTPFields = [:]) -> Response {
        var response = html(error.render(ErrorView(style: LoginPages.style, message: message)), status: status, formAction: "'none'")
        for field in headers { response.headers[field.name] = field.value }
        return response
    }

    private func html(_ body: String, status: HTTPResponse.Status, formAction: String) -> Response {
        let headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .contentSecurityPolicy:
                "default-src 'none'; style-src \(styleHash); form-action \(formAction); frame-ancestors 'none'; base-uri 'none'",
            .xFrameOptions: "DENY",
            .cacheControl: "no-store",
            .pragma: "no-cache",
            .referrerPolicy: "no-referrer",
            .xContentTypeOptions: "nosniff",
        ]
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static let style = """
        body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d1f24;margin:0}\
        main{max-width:22rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:.5rem;\
        box-shadow:0 1px 3px rgba(0,0,0,.15)}\
        h1{font-size:1.4rem;margin:0 0 .25rem}p{margin:.25rem 0 1rem}\
        label{display:block;font-weight:600;margin:1rem 0 .25rem}\
        input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;\
        border:1px solid #8a8f98;border-radius:.25rem}\
        input:focus,button:focus{outline:3px solid #3b6fd8;outline-offset:1px}\
        button{margin-top:1.5rem;width:100%;padding:.6rem;font-size:1rem;border:0;border-radius:.25rem;\
        background:#2457c5;color:#fff;cursor:pointer}\
        .error{color:#a4161a;background:#fde8e8;padding:.5rem;border-radius:.25rem}
        """

    static let loginTemplate = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Sign in · Meridian</title>
        <style>{{{style}}}</style>
        </head>
        <body>
        <main>
        <h1>Sign in</h1>
        <p>to continue to <strong id="client-name">{{clientName}}</strong></p>
        {{#error}}<p class="error" id="login-error" role="alert">{{error}}</p>{{/error}}
        <form method="post" action="/oauth/authorize">
        <input type="hidden" name="csrf_token" value="{{csrfToken}}">
        {{#fields}}<input type="hidden" name="{{name}}" value="{{value}}">
        {{/fields}}<label for="email">Email</label>
        <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" value="{{email}}"{{#error}} aria-describedby="login-error"{{/error}}>
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="72">
        <button type="submit">Sign in</button>
        </form>
        </main>
        </body>
        </html>

        """

    static let errorTemplate = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Cannot sign in · Meridian</title>
        <style>{{{style}}}</style>
        </head>
        <body>
        <main>
        <h1>Cannot sign in</h1>
        <p class="error" role="alert">{{message}}</p>
        <p>Go back to the application and start again.</p>
        </main>
        </body>
        </html>

        """
}

extension HTTPField.Name {
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
