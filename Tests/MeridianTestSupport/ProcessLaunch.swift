import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts child processes one at a time. Foundation's `Process.run()` on Linux is not safe to call from several
/// threads at once (seen here: a crash in `memmove` inside `Process.run` while parallel suites each started a
/// server), and every suite of the test binary shares one process, so all launches go through this lock.
public enum ProcessLaunch {
    private static let lock = NSLock()

    public static func run(_ process: Process) throws {
        lock.lock()
        defer { lock.unlock() }
        try process.run()
    }
}

extension ProcessLaunch {
    /// Stops a child for good with SIGKILL and reaps it. Children of the test runner may inherit a blocked SIGTERM,
    /// so `terminate()` can leave them running, and Foundation's `waitUntilExit()` then spins a core forever.
    public static func kill(_ process: Process) {
        guard process.isRunning else { return }
        _ = Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
