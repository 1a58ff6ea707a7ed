import HTTPTypes
import Hummingbird
import Logging

/// Turns every error into an RFC 9457 problem. Errors Meridian did not anticipate become a 500 whose body says
/// nothing about the cause (the log has it, with the request id); framework errors keep their status.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return problem.makeResponse()
        } catch let error as HTTPError {
            return Problem(error.status, detail: ProblemMiddleware.detail(for: error.status), headers: error.headers)
                .makeResponse()
        } catch let error as any HTTPResponseError {
            return Problem(error.status, detail: ProblemMiddleware.detail(for: error.status)).makeResponse()
        } catch is CancellationError {
            return Problem(.serviceUnavailable, detail: "The server is shutting down; retry shortly.").makeResponse()
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            return Problem(.internalServerError, detail: "An unexpected error occurred; quote the X-Request-Id.")
                .makeResponse()
        }
    }

    static func detail(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 404: "No resource lives at this path."
        case 405: "This path does not accept that method."
        case 413: "The request body is too large."
        default: status.reasonPhrase + "."
        }
    }
}
