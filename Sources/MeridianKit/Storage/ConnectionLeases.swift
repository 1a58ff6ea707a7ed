import Synchronization

/// How many of a database's connections are in use at one instant, and how many it may hold.
public struct ConnectionPoolSnapshot: Sendable, Equatable {
    public let inUse: Int
    public let capacity: Int

    public init(inUse: Int, capacity: Int) {
        self.inUse = inUse
        self.capacity = capacity
    }
}

/// A database that hands its callers connections from a bounded set: SQLite's writer (leased under the write
/// lock) and its readers, PostgreSQL's `PostgresClient` pool. `ServiceMetrics.exportPoolUsage(of:)` reads it.
public protocol PooledDatabase: Database {
    /// The connections in use now and the pool's bound.
    func connectionPoolSnapshot() -> ConnectionPoolSnapshot
    /// Calls `observer` with how long each lease waited for its connection, waits that ended in an error (the
    /// pool's timeout, cancellation) included: they are the waits an operator most needs to see.
    func observeConnectionWaits(_ observer: @escaping @Sendable (Duration) -> Void)
}

/// Exclusive leases of connections, counted exactly. A lease is `begin(waitedSince:)` as its body starts and
/// `end()` in a `defer` right after, so the count falls whether the body returns, throws or is cancelled:
///
///     leases.begin(waitedSince: requested)
///     defer { leases.end() }
///     return try await body(connection)
final class ConnectionLeases: Sendable {
    private let active = Atomic<Int>(0)
    private let waitObservers = Mutex<[@Sendable (Duration) -> Void]>([])

    var current: Int { active.load(ordering: .relaxed) }

    func observeWaits(_ observer: @escaping @Sendable (Duration) -> Void) {
        waitObservers.withLock { $0.append(observer) }
    }

    /// Reports a wait for a connection that began at `requested` and ends now.
    func recordWait(since requested: ContinuousClock.Instant) {
        let observers = waitObservers.withLock { $0 }
        guard !observers.isEmpty else { return }
        let waited = ContinuousClock.now - requested
        for observer in observers { observer(waited) }
    }

    /// A lease whose connection was asked for at `requested` begins now.
    func begin(waitedSince requested: ContinuousClock.Instant) {
        recordWait(since: requested)
        active.add(1, ordering: .relaxed)
    }

    /// The lease `begin` started has ended; call it in a `defer` next to `begin`.
    func end() {
        active.subtract(1, ordering: .relaxed)
    }
}
