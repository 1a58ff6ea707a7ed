import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import Logging
import MeridianKit
import NIOCore
import NIOHTTP1

/// Forwards one request to its upstream through the gateway's pooled client, streaming the body both ways:
/// neither side is ever held in memory whole.
struct ReverseProxy: Sendable {
    let client: HTTPClient
    let maxRequestBodySize: Int
    /// Tries of a replayable request whose upstream could not be reached.
    var maximumAttempts = 1

    /// RFC 9110 §9.2.2: repeating these has the effect of sending them once.
    static let idempotentMethods: Set<HTTPRequest.Method> = [.get, .head, .options, .put, .delete]
    static let bodilessMethods: Set<HTTPRequest.Method> = [.get, .head, .options, .delete]

    func forward(
        _ request: Request, context: MeridianRequestContext, to upstream: Upstream
    ) async throws -> Response {
        let target = try RequestTarget.checked(request.head.path)
        var outbound = HTTPClientRequest(url: upstream.baseURL + target)
        outbound.method = NIOHTTP1.HTTPMethod(rawValue: request.method.rawValue)
        outbound.headers = ProxyHeaders.outbound(
            request.headers, requestID: context.requestID, remoteAddress: context.remoteAddress,
            host: request.head.authority)
        let gate = UploadGate()
        outbound.body = try body(of: request, gate: gate)
        // An empty body on a method without body semantics is no body: the request stays replayable.
        if request.headers[.contentLength] == "0", Self.bodilessMethods.contains(request.method) { outbound.body = nil }
        // Only a request without a body can be sent twice: a streamed body is consumed by the first attempt.
        let replayable = outbound.body == nil && Self.idempotentMethods.contains(request.method)

        let response: HTTPClientResponse
        var attempt = 1
        while true {
            do {
                response = try await client.execute(
                    outbound, deadline: .now() + TimeAmount(upstream.timeout), logger: context.logger)
                break
            } catch {
                // Retried only when nothing reached the upstream, the method is idempotent and the budget allows.
                if replayable, attempt < maximumAttempts, UpstreamFailure.isUnreachable(error),
                    let guards = upstream.guards
                {
                    if guards.retryBudget.withdraw() {
                        attempt += 1
                        guards.metrics.retried(upstream.service)
                        continue
                    }
                    guards.metrics.retryBudgetExhausted(upstream.service)
                }
                await gate.stopAndWait()
                throw UpstreamFailure.problem(for: error, upstream: upstream, logger: context.logger)
            }
        }
        let upstreamBody = response.body
        return Response(
            status: HTTPResponse.Status(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase),
            headers: ProxyHeaders.inbound(response.headers),
            // The upstream's Content-Length travels in the headers; the body streams as it arrives.
            body: ResponseBody { writer in
                do {
                    for try await buffer in upstreamBody { try await writer.write(buffer) }
                } catch {
                    await gate.stopAndWait()
                    throw error
                }
                // The upstream has answered in full; whatever body it did not read is the server's to discard.
                await gate.stopAndWait()
                try await writer.finish(nil)
            })
    }

    /// The body to send upstream, framed as the client framed it: a known length stays a known length, a
    /// chunked body stays chunked, and a request without a body gets none.
    func body(of request: Request, gate: UploadGate) throws -> HTTPClientRequest.Body? {
        let limited = LimitedBody(base: request.body, limit: maxRequestBodySize, gate: gate)
        if let declared = request.headers[.contentLength] {
            guard let length = Int64(declared), length >= 0 else {
                throw Problem(.badRequest, detail: "Content-Length must be a non-negative integer.")
            }
            guard length <= Int64(maxRequestBodySize) else {
                throw UpstreamFailure.tooLarge(limit: maxRequestBodySize)
            }
            return .stream(limited, length: .known(length))
        }
        if request.headers[.transferEncoding] != nil {
            return .stream(limited, length: .unknown)
        }
        return nil
    }
}

/// The request target the gateway is willing to forward.
enum RequestTarget {
    /// The origin-form target (`/path?query`) exactly as the client sent it. Absolute-form targets and dot
    /// segments (also percent-encoded) are refused: they could make the upstream resolve a path the gateway did
    /// not route.
    static func checked(_ target: String?) throws -> String {
        guard let target, target.hasPrefix("/") else {
            throw Problem(.badRequest, detail: "The request target must be an absolute path.")
        }
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
            let decoded = segment.lowercased().replacingOccurrences(of: "%2e", with: ".")
            if decoded == "." || decoded == ".." {
                throw Problem(.badRequest, detail: "The path must not contain '.' or '..' segments.")
            }
        }
        return target
    }
}
