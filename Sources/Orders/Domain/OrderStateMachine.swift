/// What can happen to an order. Each event is triggered by exactly one route: `pay` by a successful payment,
/// `cancel` and `refund` by DELETE, `fulfil` and `complete` by PUT with a status.
public enum OrderEvent: String, Sendable, Hashable, CaseIterable {
    case pay
    case cancel
    case refund
    case fulfil
    case complete
}

/// The order lifecycle as a table. Pure: the routes ask it what is allowed, the repository makes it so.
public enum OrderStateMachine {
    /// Every legal transition; anything not listed is illegal.
    public static let transitions: [OrderStatus: [OrderEvent: OrderStatus]] = [
        .pending: [.pay: .paid, .cancel: .cancelled],
        .paid: [.refund: .refunded, .fulfil: .fulfilled],
        .fulfilled: [.complete: .completed],
    ]

    /// The status `event` leads to from `status`, or nil when the event is illegal there.
    public static func next(from status: OrderStatus, on event: OrderEvent) -> OrderStatus? {
        transitions[status]?[event]
    }

    /// A status a client may ask for with PUT: only the fulfilment steps. Payment, cancellation and refund have
    /// their own routes because they involve money.
    public static func event(forRequestedStatus status: OrderStatus) -> OrderEvent? {
        switch status {
        case .fulfilled: .fulfil
        case .completed: .complete
        case .pending, .paid, .cancelled, .refunded: nil
        }
    }

    /// The status a PUT asking for `requested` moves the order to, or nil when that move is illegal.
    public static func requestedMove(from status: OrderStatus, to requested: OrderStatus) -> OrderStatus? {
        guard let event = event(forRequestedStatus: requested) else { return nil }
        return next(from: status, on: event)
    }

    /// Items and the shipping address may change only before any money has moved.
    public static func allowsEditing(_ status: OrderStatus) -> Bool { status == .pending }

    /// What DELETE does to an order.
    public enum Deletion: Sendable, Equatable {
        /// A pending order is cancelled: no money has moved.
        case cancel
        /// A paid order is refunded through the provider.
        case refund
        /// Already cancelled or refunded: DELETE is idempotent and changes nothing.
        case unchanged
        /// Goods are on their way or delivered: the order can no longer be withdrawn.
        case refused
    }

    public static func deletion(of status: OrderStatus) -> Deletion {
        switch status {
        case .pending: .cancel
        case .paid: .refund
        case .cancelled, .refunded: .unchanged
        case .fulfilled, .completed: .refused
        }
    }
}
