import Synchronization

/// Keeps the upstream upload and the server's own reading of the request body from overlapping.
///
/// The client's body is one single-consumer stream. While the upload pulls from it, the server must not; and
/// after the handler returns, Hummingbird reads whatever body is left to reach the next request on the
/// connection. When an upstream answers before reading the whole body (a 404, a 415), the upload can still be
/// waiting inside `next()` at that moment: two readers at once, which the stream treats as a fatal error. So
/// before the response is finished the proxy stops the upload and waits until it has left `next()`.
final class UploadGate: Sendable {
    private struct State {
        var pulling = false
        var stopped = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Called by the upload before each pull; false once the gate is stopped (the upload then ends).
    func beginPull() -> Bool {
        state.withLock { state in
            guard !state.stopped else { return false }
            state.pulling = true
            return true
        }
    }

    /// Called by the upload after each pull, whether it produced a buffer, the end or an error.
    func endPull() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.pulling = false
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Stops further pulls and returns once no pull is in progress.
    func stopAndWait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let mustWait = state.withLock { state -> Bool in
                state.stopped = true
                if state.pulling {
                    state.waiters.append(continuation)
                    return true
                }
                return false
            }
            if !mustWait { continuation.resume() }
        }
    }
}
