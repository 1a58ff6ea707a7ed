/// What a payment provider said about one charge or refund.
public enum PaymentOutcome: Sendable, Equatable {
    /// The money moved.
    case succeeded
    /// The issuer or the provider refused; retrying with the same method will not help.
    case declined(reason: String)
    /// The provider could not process it and moved no money; retrying is safe.
    case failed(reason: String)
}

public struct PaymentResult: Sendable, Equatable {
    public var outcome: PaymentOutcome
    /// The provider's id for the charge or refund, when it created one.
    public var providerReference: String?

    public init(outcome: PaymentOutcome, providerReference: String?) {
        self.outcome = outcome
        self.providerReference = providerReference
    }
}

public struct ChargeRequest: Sendable, Equatable {
    public var amount: Money
    public var paymentMethod: String
    /// The payment attempt's id. A provider given the same key again must return the first result instead of
    /// charging twice: this is what makes resuming an abandoned attempt safe.
    public var idempotencyKey: String

    public init(amount: Money, paymentMethod: String, idempotencyKey: String) {
        self.amount = amount
        self.paymentMethod = paymentMethod
        self.idempotencyKey = idempotencyKey
    }
}

public struct RefundRequest: Sendable, Equatable {
    /// The provider reference of the charge to give back.
    public var chargeReference: String
    public var amount: Money
    /// As for charges: the refund attempt's id, so that a resumed refund is not paid out twice.
    public var idempotencyKey: String

    public init(chargeReference: String, amount: Money, idempotencyKey: String) {
        self.chargeReference = chargeReference
        self.amount = amount
        self.idempotencyKey = idempotencyKey
    }
}

/// A card processor. Implementations must honour `idempotencyKey`.
///
/// `charge` and `refund` return the provider's verdict; they throw only when the outcome is unknown (the
/// provider could not be reached or its answer was lost), in which case money may or may not have moved and the
/// attempt is resumed later under the same idempotency key.
public protocol PaymentProvider: Sendable {
    /// Why the provider would refuse this payment method outright (checked before anything is reserved), or nil.
    func problem(withPaymentMethod paymentMethod: String) -> String?
    func charge(_ request: ChargeRequest) async throws -> PaymentResult
    func refund(_ request: RefundRequest) async throws -> PaymentResult
}
