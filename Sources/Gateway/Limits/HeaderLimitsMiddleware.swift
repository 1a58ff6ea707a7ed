import HTTPTypes
import Hummingbird
import MeridianKit

/// Refuses requests whose header section is larger or longer than the gateway forwards (RFC 6585 §5: 431), with
/// a problem saying which limit. The HTTP parser's own, higher limits close the connection with a bare 400 for
/// anything beyond; these are the limits a client is meant to see.
struct HeaderLimitsMiddleware: RouterMiddleware {
    typealias Context = MeridianRequestContext

    let maxBytes: Int
    let maxCount: Int
    let metrics: GatewayMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let fields = request.headers
        if fields.count > maxCount {
            metrics.tooManyHeaders.increment()
            throw Problem(
                .requestHeaderFieldsTooLarge, type: Problem.typeBase + "too-many-headers",
                detail: "The request has \(fields.count) header fields; at most \(maxCount) are accepted.")
        }
        var bytes = 0
        for field in fields { bytes += field.name.rawName.utf8.count + field.value.utf8.count + 4 }
        if bytes > maxBytes {
            metrics.headersTooLarge.increment()
            throw Problem(
                .requestHeaderFieldsTooLarge, type: Problem.typeBase + "headers-too-large",
                detail: "The request's header fields take \(bytes) bytes; at most \(maxBytes) are accepted.")
        }
        return try await next(request, context)
    }
}

/// Adds `Strict-Transport-Security` to every response, refusals and errors included: browsers that reached the
/// platform once over HTTPS keep to HTTPS for two years (RFC 6797).
struct StrictTransportSecurityMiddleware<Context: RequestContext>: RouterMiddleware {
    static var value: String { "max-age=63072000; includeSubDomains" }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            var response = try await next(request, context)
            response.headers[.strictTransportSecurity] = Self.value
            return response
        } catch let problem as Problem {
            var problem = problem
            problem.headers[.strictTransportSecurity] = Self.value
            throw problem
        } catch let error as any HTTPResponseError {
            var response = try error.response(from: request, context: context)
            response.headers[.strictTransportSecurity] = Self.value
            return response
        }
    }
}
