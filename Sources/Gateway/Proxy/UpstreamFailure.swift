import AsyncHTTPClient
import Logging
import MeridianKit
import NIOCore
import NIOPosix

/// What the client hears when forwarding fails, by cause: the upstream cannot be reached (503, retry soon),
/// it did not answer in time (504), or it broke off the exchange (502). A body over the limit is the client's
/// fault (413).
enum UpstreamFailure {
    static func problem(for error: any Error, upstream: Upstream, logger: Logger) -> Problem {
        if let problem = error as? Problem { return problem }
        if let tooLarge = error as? RequestBodyTooLarge { return self.tooLarge(limit: tooLarge.limit) }
        let metadata: Logger.Metadata = [
            "upstream": .string(upstream.service), "error": .string(String(describing: error)),
        ]
        if let clientError = error as? HTTPClientError, clientError == .deadlineExceeded {
            logger.warning("upstream timed out", metadata: metadata)
            return Problem(
                .gatewayTimeout,
                detail: "The \(upstream.service) service did not answer within \(seconds(upstream.timeout)) s.")
        }
        if isUnreachable(error) {
            logger.warning("upstream unreachable", metadata: metadata)
            return Problem.upstreamUnavailable(upstream.service)
        }
        if error is CancellationError {
            return Problem(
                .serviceUnavailable, detail: "The gateway is shutting down; retry shortly.", headers: [.retryAfter: "1"]
            )
        }
        logger.error("upstream exchange failed", metadata: metadata)
        return Problem(.badGateway, detail: "The \(upstream.service) service did not complete its answer.")
    }

    static func tooLarge(limit: Int) -> Problem {
        Problem(.contentTooLarge, detail: "The request body is larger than \(limit) bytes.")
    }

    /// True when no connection to the upstream could be made: nothing was sent, so a retry is safe.
    static func isUnreachable(_ error: any Error) -> Bool {
        switch error {
        case is NIOConnectionError:
            return true
        case let error as HTTPClientError:
            return error == .connectTimeout || error == .getConnectionFromPoolTimeout
        case let error as IOError:
            return [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains(error.errnoCode)
        default:
            return false
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let (whole, fraction) = duration.components
        if fraction == 0 { return String(whole) }
        return String(Double(whole) + Double(fraction) / 1e18)
    }
}
