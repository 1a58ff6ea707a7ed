import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The loopback end of `meridian login` (RFC 8252 section 7.3): `GET /callback` on 127.0.0.1 receives the
/// browser's redirect and hands the authorization code, or the reason there is none, to the waiting flow.
///
/// A redirect whose `state` is not this login's is answered and ignored, so another local process cannot end
/// the login with a forged response; one with the right `state` settles the login, once.
final class RedirectReceiver: Sendable {
    let state: String
    /// The issuer whose `iss` the response must carry (RFC 9207), or nil when the server does not send it.
    let expectedIssuer: String?
    let results: AsyncStream<Result<String, LoginError>>
    private let continuation: AsyncStream<Result<String, LoginError>>.Continuation

    static let path = "/callback"

    init(state: String, expectedIssuer: String?) {
        self.state = state
        self.expectedIssuer = expectedIssuer
        (results, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(1))
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get(RouterPath(RedirectReceiver.path)) { request, _ in self.receive(query: request.uri.query ?? "") }
        return router
    }

    func receive(query: String) -> Response {
        guard let pairs = FormCoding.decode(Substring(query)) else {
            return Self.page(.badRequest, "This sign-in response is malformed and was ignored.")
        }
        var fields: [String: String] = [:]
        for (name, value) in pairs {
            // A parameter given twice is ambiguous: which state, which code? Treated as not ours.
            guard fields.updateValue(value, forKey: name) == nil else {
                return Self.page(.badRequest, "This sign-in response is malformed and was ignored.")
            }
        }
        guard fields["state"] == state else {
            return Self.page(
                .badRequest, "This sign-in response does not belong to the login waiting in your terminal; it was ignored.")
        }
        if let expectedIssuer, fields["iss"] != expectedIssuer {
            settle(.failure(LoginError(description: "the sign-in response names another issuer than the server asked")))
            return Self.page(.badRequest, "Sign-in failed. See your terminal.")
        }
        if let error = fields["error"] {
            let detail = fields["error_description"].map { ": " + Self.printable($0) } ?? ""
            settle(.failure(LoginError(description: "sign-in failed (\(Self.printable(error)))\(detail)")))
            return Self.page(.ok, "Sign-in failed. See your terminal.")
        }
        guard let code = fields["code"], !code.isEmpty else {
            settle(.failure(LoginError(description: "the sign-in response carries neither a code nor an error")))
            return Self.page(.badRequest, "Sign-in failed. See your terminal.")
        }
        settle(.success(code))
        return Self.page(.ok, "Signed in. You can close this window and return to your terminal.")
    }

    private func settle(_ result: Result<String, LoginError>) {
        continuation.yield(result)
        continuation.finish()
    }

    /// Text from the server, shown in a terminal: printable ASCII only, so it cannot carry escape sequences.
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.prefix(300).filter { $0.value >= 0x20 && $0.value < 0x7F }))
    }

    /// A fixed page: nothing from the request is echoed into it.
    static func page(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Meridian CLI</title></head>
            <body><main><h1>Meridian CLI</h1><p>\(message)</p></main></body></html>

            """
        return Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'none'", .referrerPolicy: "no-referrer",
            ],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

extension HTTPField.Name {
    fileprivate static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
