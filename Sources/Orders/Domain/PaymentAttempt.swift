import Foundation

/// One call to the payment provider for an order: a charge, or the refund of the order's charge.
///
/// An attempt is first stored as `processing` (the reservation that stops a second concurrent payment), then
/// finished with what the provider answered. Only finished attempts are shown to clients.
public struct PaymentAttempt: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case charge
        case refund
    }

    public enum Status: String, Sendable, CaseIterable {
        case processing
        case succeeded
        case declined
        case failed
    }

    public let id: String
    public let orderID: String
    public let kind: Kind
    public var status: Status
    public let amount: Money
    /// The provider's token for the card or account; for a refund, the method the order was charged with.
    public let paymentMethod: String
    public var providerReference: String?
    public var failureReason: String?
    public let createdAt: Date

    public init(
        id: String, orderID: String, kind: Kind, status: Status, amount: Money, paymentMethod: String,
        providerReference: String?, failureReason: String?, createdAt: Date
    ) {
        self.id = id
        self.orderID = orderID
        self.kind = kind
        self.status = status
        self.amount = amount
        self.paymentMethod = paymentMethod
        self.providerReference = providerReference
        self.failureReason = failureReason
        self.createdAt = createdAt
    }
}
