import MeridianKit
import Synchronization

/// A payment provider that behaves like a card processor in test mode, with its well-known test tokens:
///
/// - `tok_visa`: the charge succeeds;
/// - `tok_chargeDeclined`: the card is declined (`card_declined`); the processor records a failed charge;
/// - `tok_processingError`: the processor fails (`processing_error`) without creating a charge; safe to retry.
///
/// Any other payment method is refused before any money moves. Refunds of its own successful charges succeed
/// (once); refunds of anything else are declined. Idempotency keys are honoured like a real processor does: the
/// same key with the same request returns the first result, with a different request it fails.
///
/// It keeps its records in memory, so idempotency does not survive a restart of the process; a real provider
/// keeps them on its side.
public final class TestPaymentProvider: PaymentProvider {
    public static let succeedingMethod = "tok_visa"
    public static let declinedMethod = "tok_chargeDeclined"
    public static let processingErrorMethod = "tok_processingError"
    public static let methods: Set<String> = [succeedingMethod, declinedMethod, processingErrorMethod]

    private enum Request: Equatable {
        case charge(ChargeRequest)
        case refund(RefundRequest)
    }

    private struct State {
        /// First request and result per idempotency key.
        var replies: [String: (request: Request, result: PaymentResult)] = [:]
        /// Successful charges by reference, and whether each has been refunded.
        var charges: [String: (amount: Money, refunded: Bool)] = [:]
        var chargeCount = 0
        var refundCount = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Charges that moved money (replays of an idempotency key are not counted).
    public var chargeCount: Int { state.withLock { $0.chargeCount } }
    /// Refunds that moved money back.
    public var refundCount: Int { state.withLock { $0.refundCount } }

    public func problem(withPaymentMethod paymentMethod: String) -> String? {
        TestPaymentProvider.methods.contains(paymentMethod)
            ? nil : "unknown test payment method; use tok_visa, tok_chargeDeclined or tok_processingError"
    }

    public func charge(_ request: ChargeRequest) async throws -> PaymentResult {
        state.withLock { state in
            if let reply = TestPaymentProvider.replay(.charge(request), key: request.idempotencyKey, in: state) {
                return reply
            }
            let result: PaymentResult
            switch request.paymentMethod {
            case TestPaymentProvider.succeedingMethod:
                let reference = Identifier.make(prefix: "ch")
                state.charges[reference] = (request.amount, false)
                state.chargeCount += 1
                result = PaymentResult(outcome: .succeeded, providerReference: reference)
            case TestPaymentProvider.declinedMethod:
                result = PaymentResult(
                    outcome: .declined(reason: "card_declined"), providerReference: Identifier.make(prefix: "ch"))
            case TestPaymentProvider.processingErrorMethod:
                result = PaymentResult(outcome: .failed(reason: "processing_error"), providerReference: nil)
            default:
                result = PaymentResult(outcome: .declined(reason: "invalid_payment_method"), providerReference: nil)
            }
            state.replies[request.idempotencyKey] = (.charge(request), result)
            return result
        }
    }

    public func refund(_ request: RefundRequest) async throws -> PaymentResult {
        state.withLock { state in
            if let reply = TestPaymentProvider.replay(.refund(request), key: request.idempotencyKey, in: state) {
                return reply
            }
            let result: PaymentResult
            if let charge = state.charges[request.chargeReference] {
                if charge.refunded {
                    result = PaymentResult(
                        outcome: .declined(reason: "charge_already_refunded"), providerReference: nil)
                } else if request.amount.currency != charge.amount.currency
                    || request.amount.minorUnits > charge.amount.minorUnits
                {
                    result = PaymentResult(outcome: .declined(reason: "amount_too_large"), providerReference: nil)
                } else {
                    state.charges[request.chargeReference]?.refunded = true
                    state.refundCount += 1
                    result = PaymentResult(outcome: .succeeded, providerReference: Identifier.make(prefix: "re"))
                }
            } else {
                result = PaymentResult(outcome: .declined(reason: "no_such_charge"), providerReference: nil)
            }
            state.replies[request.idempotencyKey] = (.refund(request), result)
            return result
        }
    }

    private static func replay(_ request: Request, key: String, in state: State) -> PaymentResult? {
        guard let reply = state.replies[key] else { return nil }
        guard reply.request == request else {
            return PaymentResult(outcome: .failed(reason: "idempotency_key_in_use"), providerReference: nil)
        }
        return reply.result
    }
}
