import AsyncHTTPClient
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// Calls another Meridian service over HTTP(S) with the process's pooled client. Failures to reach the service
/// are `ServiceClient.Unavailable`, which routes turn into 503.
public struct ServiceClient: Sendable {
    public let baseURL: String
    public let service: String
    let client: HTTPClient
    let timeout: TimeAmount

    public struct Unavailable: Error, Sendable {
        public let service: String
    }

    /// The process's client for calls between services: pooled keep-alive connections, and a refused connection
    /// fails the call at once (the service is down) instead of being retried until the deadline. Like
    /// `HTTPClient.shared`, it lives as long as the process. HTTPS is TLS 1.3 only and verifies the server
    /// against `PlatformTrust` (the platform CA), which the CLI sets before it builds any service.
    public static var internalClient: HTTPClient { PlatformTrust.internalClient }

    /// A client configured like `internalClient`, with the given TLS (`PlatformTrust.clientConfiguration`).
    /// `connectTimeout` stays short in production: a peer that does not accept within it is down, and the
    /// caller answers 503 at once rather than hold its client.
    public static func makeInternalClient(tls: TLSConfiguration, connectTimeout: TimeAmount = .seconds(2)) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: connectTimeout)
        // AsyncHTTPClient gives a request waiting for a pooled connection the connect deadline too; at its default
        // of 8 connections per host, a burst of internal calls (an outbox batch of 32, duplicate deliveries) queues
        // past 2 s and fails as "unavailable" though the peer is healthy.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        configuration.tlsConfiguration = tls
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public init(
        service: String, baseURL: String, client: HTTPClient = ServiceClient.internalClient,
        timeout: TimeAmount = .seconds(5)
    ) {
        self.service = service
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.client = client
        self.timeout = timeout
    }

    public struct Reply: Sendable {
        public let status: Int
        public let headers: HTTPHeaders
        public let body: ByteBuffer

        public init(status: Int, headers: HTTPHeaders = [:], body: ByteBuffer) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    /// The service answered with a body longer than the caller accepts: it is reachable, so this is not
    /// `Unavailable` (routes answer 502, not "retry shortly").
    public struct ReplyTooLarge: Error, Sendable {
        public let service: String
        public let maxBytes: Int
    }

    /// Sends a request and collects the reply (at most `maxBytes`, 1 MiB unless the caller expects more).
    public func send(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: ByteBuffer? = nil,
        requestID: String? = nil, maxBytes: Int = 1 << 20
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let requestID { request.headers.replaceOrAdd(name: "X-Request-Id", value: requestID) }
        if let body {
            request.body = .bytes(body)
            request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        }
        do {
            let response = try await client.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: maxBytes)
            return Reply(status: Int(response.status.code), headers: response.headers, body: bytes)
        } catch is NIOTooManyBytesError {
            throw ReplyTooLarge(service: service, maxBytes: maxBytes)
        } catch {
            throw Unavailable(service: service)
        }
    }
}

extension Problem {
    public static func upstreamUnavailable(_ service: String) -> Problem {
        Problem(
            .serviceUnavailable, detail: "The \(service) service is unavailable; retry shortly.",
            headers: [.retryAfter: "1"])
    }
}
