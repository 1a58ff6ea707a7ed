import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Why `meridian login` could not finish. The message is one line for the terminal and never contains a
/// token, code or verifier.
struct LoginError: Error, CustomStringConvertible {
    let description: String
}

/// The calls `meridian login` makes to Meridian: its metadata (RFC 8414) and the token endpoint.
struct AuthorizationServerClient: Sendable {
    /// The base URL the user gave (`--url`), without a trailing slash.
    let baseURL: String
    let client: HTTPClient

    static let timeout: TimeAmount = .seconds(30)
    static let maxResponseSize = 1 << 20

    struct Metadata: Decodable {
        let issuer: String
        /// RFC 9207: when true, every authorization response carries `iss`, which the client must check.
        let authorizationResponseIssParameterSupported: Bool?

        enum CodingKeys: String, CodingKey {
            case issuer
            case authorizationResponseIssParameterSupported = "authorization_response_iss_parameter_supported"
        }
    }

    /// What the token endpoint answers (RFC 6749 section 5.1), with the exact bytes for `--save`.
    struct Tokens {
        let accessToken: String
        let raw: Data
    }

    private struct TokenFields: Decodable {
        let accessToken: String
        let tokenType: String

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case tokenType = "token_type"
        }
    }

    private struct ErrorFields: Decodable {
        let error: String
        let errorDescription: String?

        enum CodingKeys: String, CodingKey {
            case error
            case errorDescription = "error_description"
        }
    }

    func endpoint(_ path: String) -> String { baseURL + path }

    func metadata() async throws -> Metadata {
        let request = HTTPClientRequest(url: endpoint("/.well-known/oauth-authorization-server"))
        let (status, body) = try await send(request)
        guard status == .ok, let metadata = try? JSONDecoder().decode(Metadata.self, from: body) else {
            throw LoginError(
                description: "\(baseURL) did not answer with Meridian's authorization server metadata (HTTP \(status.code))")
        }
        return metadata
    }

    /// Exchanges the authorization code (RFC 6749 section 4.1.3, with the PKCE verifier of RFC 7636).
    func exchange(code: String, redirectURI: String, clientID: String, verifier: String) async throws -> Tokens {
        var request = HTTPClientRequest(url: endpoint("/oauth/token"))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(
            ByteBuffer(
                string: FormCoding.encode([
                    ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI),
                    ("client_id", clientID), ("code_verifier", verifier),
                ])))
        let (status, body) = try await send(request)
        guard status == .ok else {
            if let error = try? JSONDecoder().decode(ErrorFields.self, from: body) {
                let detail = error.errorDescription.map { ": \($0)" } ?? ""
                throw LoginError(description: "the code exchange was refused (\(error.error))\(detail)")
            }
            throw LoginError(description: "the code exchange failed with HTTP \(status.code)")
        }
        guard let fields = try? JSONDecoder().decode(TokenFields.self, from: body),
            fields.tokenType.lowercased() == "bearer", !fields.accessToken.isEmpty
        else {
            throw LoginError(description: "the token endpoint answered without a bearer access token")
        }
        return Tokens(accessToken: fields.accessToken, raw: body)
    }

    private func send(_ request: HTTPClientRequest) async throws -> (HTTPResponseStatus, Data) {
        do {
            let response = try await client.execute(request, timeout: AuthorizationServerClient.timeout)
            let body = try await response.body.collect(upTo: AuthorizationServerClient.maxResponseSize)
            return (response.status, Data(body.readableBytesView))
        } catch let error as LoginError {
            throw error
        } catch {
            throw LoginError(description: "cannot reach \(baseURL): \(error)")
        }
    }
}
