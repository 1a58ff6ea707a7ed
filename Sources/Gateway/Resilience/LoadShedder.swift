import Synchronization

/// Caps the requests in flight to one upstream. Each priority may fill only part of the capacity: low-priority
/// traffic (analytics ingestion) is refused while half the slots are still free, normal traffic at 80%, and
/// critical traffic (sign-in, orders) only when all are taken. A busy upstream thus keeps room for what matters.
public final class LoadShedder: Sendable {
    public let capacity: Int
    private let inFlight = Atomic<Int>(0)

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// The number of requests of `priority` that may be in flight before more of them are shed.
    public func threshold(for priority: ShedPriority) -> Int {
        switch priority {
        case .low: max(1, capacity / 2)
        case .normal: max(1, capacity * 4 / 5)
        case .critical: capacity
        }
    }

    /// Takes a slot, or returns false when the upstream is too busy for this priority.
    public func acquire(_ priority: ShedPriority) -> Bool {
        let limit = threshold(for: priority)
        var current = inFlight.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = inFlight.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    public func release() {
        inFlight.subtract(1, ordering: .acquiringAndReleasing)
    }

    public var current: Int { inFlight.load(ordering: .relaxed) }
}
