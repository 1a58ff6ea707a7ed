import NIOCore

/// At most `size` sessions with the server, idle ones kept for reuse. The pool only does bookkeeping; opening,
/// checking and closing connections happen outside it (they await the network, and an actor awaiting would let
/// other callers interleave mid-decision).
actor SMTPConnectionPool {
    enum Lease {
        case reuse(SMTPConnection, idleSince: NIODeadline)
        /// A slot to open a new connection in.
        case create
    }

    private let size: Int
    private var idle: [(SMTPConnection, NIODeadline)] = []
    private var inUse = 0
    private var waiters: [CheckedContinuation<Lease?, Never>] = []
    private var isShutDown = false

    init(size: Int) { self.size = size }

    /// A connection or a slot; nil once the pool is shut down.
    func acquire() async -> Lease? {
        if isShutDown { return nil }
        if let (connection, since) = idle.popLast() {
            inUse += 1
            return .reuse(connection, idleSince: since)
        }
        if inUse < size {
            inUse += 1
            return .create
        }
        return await withCheckedContinuation { waiters.append($0) }
    }

    /// Gives the slot back, with the connection when it can be reused. Returns a connection the caller must close
    /// (the pool shut down meanwhile).
    func release(_ connection: SMTPConnection?) -> SMTPConnection? {
        if isShutDown {
            inUse -= 1
            return connection
        }
        if !waiters.isEmpty {
            let waiter = waiters.removeFirst()
            waiter.resume(returning: connection.map { .reuse($0, idleSince: .now()) } ?? .create)
            return nil
        }
        inUse -= 1
        if let connection { idle.append((connection, .now())) }
        return nil
    }

    /// Stops lending and returns the idle connections for the caller to QUIT.
    func shutDown() -> [SMTPConnection] {
        isShutDown = true
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.resume(returning: nil) }
        let connections = idle.map(\.0)
        idle = []
        return connections
    }
}
