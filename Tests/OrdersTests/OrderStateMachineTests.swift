import Testing

@testable import Orders

/// The lifecycle table, checked cell by cell against the contract: every (status, event) pair, every status a
/// PUT may ask for from every status, and what DELETE does in every status.
@Suite struct OrderStateMachineTests {
    /// The contract's transitions, written out independently of the implementation's table.
    static let legal: [String: OrderStatus] = [
        "pending/pay": .paid,
        "pending/cancel": .cancelled,
        "paid/refund": .refunded,
        "paid/fulfil": .fulfilled,
        "fulfilled/complete": .completed,
    ]

    @Test(arguments: OrderStatus.allCases, OrderEvent.allCases)
    func everyEventInEveryStatus(_ status: OrderStatus, _ event: OrderEvent) {
        let expected = Self.legal["\(status.rawValue)/\(event.rawValue)"]
        #expect(OrderStateMachine.next(from: status, on: event) == expected)
    }

    @Test func finalStatusesHaveNoWayOut() {
        for status in [OrderStatus.completed, .cancelled, .refunded] {
            for event in OrderEvent.allCases {
                #expect(OrderStateMachine.next(from: status, on: event) == nil, "\(status) on \(event)")
            }
        }
    }

    /// PUT may only fulfil a paid order and complete a fulfilled one; asking for the current status is illegal too.
    @Test(arguments: OrderStatus.allCases, OrderStatus.allCases)
    func everyStatusAPutMayAskFor(_ current: OrderStatus, _ requested: OrderStatus) {
        let expected: OrderStatus? =
            switch (current, requested) {
            case (.paid, .fulfilled): .fulfilled
            case (.fulfilled, .completed): .completed
            default: nil
            }
        #expect(OrderStateMachine.requestedMove(from: current, to: requested) == expected)
    }

    @Test(arguments: OrderStatus.allCases)
    func deleteInEveryStatus(_ status: OrderStatus) {
        let expected: OrderStateMachine.Deletion =
            switch status {
            case .pending: .cancel
            case .paid: .refund
            case .cancelled, .refunded: .unchanged
            case .fulfilled, .completed: .refused
            }
        #expect(OrderStateMachine.deletion(of: status) == expected)
        // What DELETE applies must itself be a legal transition.
        if expected == .cancel { #expect(OrderStateMachine.next(from: status, on: .cancel) == .cancelled) }
        if expected == .refund { #expect(OrderStateMachine.next(from: status, on: .refund) == .refunded) }
    }

    @Test(arguments: OrderStatus.allCases)
    func onlyPendingOrdersAreEditable(_ status: OrderStatus) {
        #expect(OrderStateMachine.allowsEditing(status) == (status == .pending))
    }
}
