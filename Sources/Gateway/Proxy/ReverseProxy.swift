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

        // A client span around the call (retries included); the upstream's server span becomes its child.
        let response = try await OutboundHTTPSpan.run(
            method: request.method.rawValue, service: upstream.service, serverAddress: upstream.baseURL
        ) { span -> HTTPClientResponse in
            span.propagate(into: &outbound.headers, sentBy: client)
            var attempt = 1
            while true {
                do {
                    let response = try await client.execute(
                        outbound, deadline: .now() + TimeAmount(upstream.timeout), logger: context.logger)
                    span.record(status: Int(response.status.code))
                    return response
                } catch {
                    // Retried only when nothing reached the upstream, the method is idempotent and the budget
                    // allows.
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
        // On the bytes: Foundation's `replacingOccurrences` bridged every segment through NSString, about 3% of
        // the gateway's CPU per proxied request (perf, bench/gateway-compare).
        let hasDotSegment =
            target.utf8.withContiguousStorageIfAvailable(containsDotSegment)
            ?? Array(target.utf8).withUnsafeBufferPointer(containsDotSegment)
        if hasDotSegment {
            throw Problem(.badRequest, detail: "The path must not contain '.' or '..' segments.")
        }
        return target
    }

    /// Whether the path (the target up to its first `?`) has a segment that is `.` or `..`, each dot written
    /// as `.` or as `%2e`/`%2E`.
    static func containsDotSegment(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var dots = 0
        var onlyDots = true
        var index = 0
        while true {
            let atEnd = index == bytes.count || bytes[index] == UInt8(ascii: "?")
            if atEnd || bytes[index] == UInt8(ascii: "/") {
                if onlyDots, dots == 1 || dots == 2 { return true }
                if atEnd { return false }
                dots = 0
                onlyDots = true
                index += 1
            } else if bytes[index] == UInt8(ascii: ".") {
                dots += 1
                index += 1
            } else if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "2"),
                bytes[index + 2] | 0x20 == UInt8(ascii: "e")
            {
                dots += 1
                index += 3
            } else {
                onlyDots = false
                index += 1
            }
        }
    }
}
