import Synchronization

/// The event ids an inbox is applying right now in this process. A producer retrying, or two dispatchers
/// racing, can deliver one event several times at once; only the first receipt of an id goes on to the
/// database, the others wait for it and then find the event recorded. Without this every duplicate took its
/// own write transaction and queued behind the others (on SQLite, behind the single writer), so a burst of
/// redeliveries slowed every answer until callers gave up. Correctness does not rest on it: the inbox row's
/// primary key still decides, across processes too.
final class InFlightReceipts: Sendable {
    private let waiters = Mutex<[String: [CheckedContinuation<Bool, Never>]]>([:])

    /// True when the caller now holds `id` (it must call `finish(id)` when done); false once another holder
    /// has finished, so the caller looks at the inbox again.
    func lead(_ id: String) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let leads = waiters.withLock { waiters -> Bool in
                guard waiters[id] != nil else {
                    waiters[id] = []
                    return true
                }
                waiters[id, default: []].append(continuation)
                return false
            }
            if leads { continuation.resume(returning: true) }
        }
    }

    /// Releases `id` and wakes everyone who waited for it.
    func finish(_ id: String) {
        let woken = waiters.withLock { $0.removeValue(forKey: id) ?? [] }
        for continuation in woken { continuation.resume(returning: false) }
    }
}
