import Hummingbird
import MeridianKit
import NIOCore

/// Reads an `application/x-www-form-urlencoded` body, the encoding of every OAuth request.
enum FormRequest {
    /// OAuth requests are a few parameters; nothing legitimate comes near this.
    static let maxBodySize = 16 * 1024

    enum Failure: Error, Equatable {
        case unsupportedMediaType
        case tooLarge
        case malformed
    }

    static func read(_ request: Request) async throws -> Result<FormEncoding.Fields, Failure> {
        guard let type = request.headers[.contentType]?.lowercased(),
            type.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) == "application/x-www-form-urlencoded"
        else { return .failure(.unsupportedMediaType) }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maxBodySize)
        } catch is NIOTooManyBytesError {
            return .failure(.tooLarge)
        }
        guard let fields = FormEncoding.parse(Substring(String(buffer: body))) else { return .failure(.malformed) }
        return .success(fields)
    }

    /// The OAuth error for a body that could not be read.
    static func oauthError(_ failure: Failure) -> OAuthError {
        switch failure {
        case .unsupportedMediaType: OAuthError(.invalidRequest, "Send the parameters as application/x-www-form-urlencoded.")
        case .tooLarge: OAuthError(.invalidRequest, "The request body is too large.")
        case .malformed: OAuthError(.invalidRequest, "The request body is not valid form encoding.")
        }
    }
}
