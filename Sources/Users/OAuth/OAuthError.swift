import Foundation
import HTTPTypes
import Hummingbird
import MeridianKit
import NIOCore

/// An error of the OAuth protocol (RFC 6749 sections 4.1.2.1 and 5.2, RFC 7009, RFC 7662). OAuth clients read
/// these as `{"error", "error_description"}`, not as problem+json, so the OAuth endpoints answer in that form.
struct OAuthError: Error, Sendable, Equatable {
    enum Code: String, Sendable {
        case invalidRequest = "invalid_request"
        case invalidClient = "invalid_client"
        case invalidGrant = "invalid_grant"
        case unauthorizedClient = "unauthorized_client"
        case unsupportedGrantType = "unsupported_grant_type"
        case unsupportedResponseType = "unsupported_response_type"
        case invalidScope = "invalid_scope"
        case accessDenied = "access_denied"
        case serverError = "server_error"
    }

    let code: Code
    /// Human-readable, ASCII, and never containing anything the client sent (RFC 6749 restricts the characters).
    let description: String

    init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }

    /// RFC 6749 section 5.2: 400, or 401 with a challenge when the client failed to authenticate.
    var status: HTTPResponse.Status { code == .invalidClient ? .unauthorized : .badRequest }

    /// The JSON error of the token, revocation and introspection endpoints.
    func response() -> Response {
        var headers = OAuthError.noStore
        headers[.contentType] = "application/json"
        if code == .invalidClient { headers[.wwwAuthenticate] = #"Basic realm="meridian", charset="UTF-8""# }
        let body = JSONValue.object([
            "error": .string(code.rawValue), "error_description": .string(description),
        ]).serialized()
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Token responses and their errors must not be cached (RFC 6749 section 5.1).
    static let noStore: HTTPFields = [.cacheControl: "no-store", .pragma: "no-cache"]
}

extension HTTPField.Name {
    static let pragma = HTTPField.Name("Pragma")!
}
