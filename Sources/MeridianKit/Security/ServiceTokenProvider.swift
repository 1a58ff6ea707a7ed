import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Something that hands out bearer tokens for calls to other services.
public protocol ServiceTokenSource: Sendable {
    /// A token valid for at least a little while longer.
    func token() async throws -> String
    /// Forgets a token a service refused (401), so the next `token()` fetches a fresh one.
    func invalidate(_ token: String) async
}

/// Client-credentials tokens for service-to-service calls (RFC 6749 section 4.4), from the users service's
/// `/oauth/token` with `client_secret_basic`. A token is reused until `refreshMargin` (60 s) before it expires;
/// concurrent callers during a refresh share one request (single flight), so a burst of deliveries asks once.
public actor ServiceTokenProvider: ServiceTokenSource {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The default client every Meridian service authenticates as (`meridian serve` creates it).
    public static let defaultClientID = "meridian-services"

    private let tokenURL: String
    private let clientID: String
    private let clientSecret: String
    private let scope: String?
    private let client: HTTPClient
    private let refreshMargin: TimeInterval
    private let now: @Sendable () -> Date
    private let logger: Logger

    private var cached: (token: String, expiresAt: Date)?
    private var refreshing: Task<(token: String, expiresAt: Date), any Error>?

    /// `usersURL` is the users service's base URL (`settings.url(of: "users")`).
    public init(
        usersURL: String, clientID: String, clientSecret: String, scope: String? = nil,
        client: HTTPClient = ServiceClient.internalClient, refreshMargin: TimeInterval = 60,
        logger: Logger, now: @escaping @Sendable () -> Date = Date.init
    ) {
        let base = usersURL.hasSuffix("/") ? String(usersURL.dropLast()) : usersURL
        self.tokenURL = base + "/oauth/token"
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.scope = scope
        self.client = client
        self.refreshMargin = refreshMargin
        self.now = now
        self.logger = logger
    }

    public func token() async throws -> String {
        if let cached, cached.expiresAt.timeIntervalSince(now()) > refreshMargin { return cached.token }
        if let refreshing { return try await refreshing.value.token }
        let task = Task { try await self.fetch() }
        refreshing = task
        defer { refreshing = nil }
        do {
            let fresh = try await task.value
            cached = fresh
            return fresh.token
        } catch {
            cached = nil
            throw error
        }
    }

    public func invalidate(_ token: String) {
        if cached?.token == token { cached = nil }
    }

    private func fetch() async throws -> (token: String, expiresAt: Date) {
        var request = HTTPClientRequest(url: tokenURL)
        request.method = .POST
        let credentials = Data("\(Self.formEncode(clientID)):\(Self.formEncode(clientSecret))".utf8)
        request.headers.add(name: "Authorization", value: "Basic \(credentials.base64EncodedString())")
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        var form = "grant_type=client_credentials"
        if let scope { form += "&scope=" + Self.formEncode(scope) }
        request.body = .bytes(ByteBuffer(string: form))
        let issuedAt = now()
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(10))
            body = try await response.body.collect(upTo: 64 * 1024)
        } catch {
            throw Failure(description: "the token endpoint \(tokenURL) is unreachable: \(error)")
        }
        guard response.status == .ok else {
            // The OAuth error code names the problem (invalid_client, unauthorized_client) and holds no secret.
            let code = (try? JSONValue.parse(body.readableBytesView)).flatMap { value -> String? in
                if case .object(let members) = value, case .string(let error)? = members["error"] { return error }
                return nil
            }
            logger.error(
                "service token request refused",
                metadata: ["status": .stringConvertible(response.status.code), "error": .string(code ?? "unknown")])
            throw Failure(
                description: "the token endpoint answered \(response.status.code) \(code ?? ""): check the service client credentials")
        }
        guard case .object(let members)? = try? JSONValue.parse(body.readableBytesView),
            case .string(let token)? = members["access_token"], !token.isEmpty,
            case .integer(let expiresIn)? = members["expires_in"], expiresIn > 0
        else {
            throw Failure(description: "the token endpoint's answer has no access_token and expires_in")
        }
        return (token, issuedAt.addingTimeInterval(TimeInterval(expiresIn)))
    }

    /// `application/x-www-form-urlencoded` (RFC 6749 appendix B), as client_secret_basic requires for both parts.
    static func formEncode(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._*")
        return (text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text)
            .replacingOccurrences(of: "%20", with: "+")
    }
}

/// The OAuth client a service authenticates as when it calls another service. The secret is never logged.
public struct ServiceClientCredentials: Sendable, Equatable, CustomStringConvertible {
    public let clientID: String
    public let clientSecret: String

    public init(clientID: String = ServiceTokenProvider.defaultClientID, clientSecret: String) {
        self.clientID = clientID
        self.clientSecret = clientSecret
    }

    public var description: String { "ServiceClientCredentials(\(clientID), secret redacted)" }
}

extension ServiceSettings {
    /// A token provider for the configured service client against the users service, or nil when the service
    /// has no client credentials or no users URL.
    public func serviceTokenProvider(logger: Logger) -> ServiceTokenProvider? {
        guard let serviceClient, let usersURL = try? url(of: "users") else { return nil }
        return ServiceTokenProvider(
            usersURL: usersURL, clientID: serviceClient.clientID, clientSecret: serviceClient.clientSecret,
            logger: logger)
    }
}
