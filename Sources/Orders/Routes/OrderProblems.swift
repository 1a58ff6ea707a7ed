import HTTPTypes
import Hummingbird
import MeridianKit

/// The problems the orders routes answer with, beyond the kernel's generic ones.
enum OrderProblems {
    static let typeBase = Problem.typeBase

    /// 409 for a change the order's status does not allow; `current_status` tells the client where it is.
    static func wrongStatus(_ current: OrderStatus, detail: String? = nil) -> Problem {
        Problem(
            .conflict, type: typeBase + "order-status-conflict", title: "Order status conflict",
            detail: detail ?? "The order is \(current.rawValue); that change is not allowed in this status.",
            extensions: ["current_status": current.rawValue])
    }

    /// 403 for a request the caller's permissions do not cover, worded like the kernel's (RFC 6750 challenge).
    static func forbidden(_ detail: String) -> Problem {
        Problem(
            .forbidden, type: typeBase + "insufficient-permission", title: "Forbidden", detail: detail,
            headers: [.wwwAuthenticate: #"Bearer error="insufficient_scope""#])
    }

    static let paymentInProgress = Problem(
        .conflict, type: typeBase + "payment-in-progress", title: "Payment in progress",
        detail: "A payment or refund for this order is being processed; fetch the order again shortly.",
        headers: [.retryAfter: "1"])

    static let concurrentUpdate = Problem(
        .conflict, type: typeBase + "concurrent-update", title: "Concurrent update",
        detail: "The order changed while this request was being processed; fetch it again and retry.")

    static func paymentDeclined(_ attempt: PaymentAttempt) -> Problem {
        Problem(
            .init(code: 402, reasonPhrase: "Payment Required"), type: typeBase + "payment-declined",
            title: "Payment declined",
            detail: "The payment method was declined (\(attempt.failureReason ?? "no reason given")); "
                + "the order is still pending and can be paid with another method.",
            extensions: ["payment_attempt_id": attempt.id])
    }

    static func paymentFailed(_ attempt: PaymentAttempt) -> Problem {
        Problem(
            .badGateway, type: typeBase + "payment-processing-error", title: "Payment processing error",
            detail:
                "The payment provider could not process the payment (\(attempt.failureReason ?? "no reason given")); "
                + "no money moved and retrying is safe.",
            extensions: ["payment_attempt_id": attempt.id])
    }

    static func refundFailed(_ attempt: PaymentAttempt) -> Problem {
        Problem(
            .badGateway, type: typeBase + "refund-failed", title: "Refund failed",
            detail: "The payment provider did not refund the payment (\(attempt.failureReason ?? "no reason given")); "
                + "the order is still paid.",
            extensions: ["payment_attempt_id": attempt.id])
    }

    static let outcomeUnknown = Problem(
        .badGateway, type: typeBase + "payment-processing-error", title: "Payment processing error",
        detail: "The payment provider did not answer. Retrying is safe: the next request learns the outcome from the "
            + "provider before anything is charged again.")

    static let totalTooLarge = Problem.validation([
        FieldError(field: "items", message: "the order total does not fit in 64-bit minor units")
    ])
}

/// Turns the repository's and the payment flow's errors into problems, inside the idempotency middleware so
/// that these outcomes are remembered and replayed like any other answer.
struct OrderErrorMiddleware: RouterMiddleware {
    typealias Context = MeridianRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as OrderStoreError {
            switch error {
            case .orderNotFound: throw Problem.notFound("The order")
            case .wrongStatus(let current): throw OrderProblems.wrongStatus(current)
            case .paymentInProgress: throw OrderProblems.paymentInProgress
            }
        } catch is ConcurrentUpdateError {
            throw OrderProblems.concurrentUpdate
        } catch is PaymentOutcomeUnknown {
            throw OrderProblems.outcomeUnknown
        } catch is MoneyOverflow {
            throw OrderProblems.totalTooLarge
        }
    }
}
