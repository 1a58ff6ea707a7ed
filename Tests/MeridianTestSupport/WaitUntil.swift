/// Polls `condition` until it holds; throws `ConditionNotReached` after `timeout` instead of waiting forever.
public func waitUntil(
    timeout: Duration = .seconds(10), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw ConditionNotReached(timeout: timeout) }
        try await Task.sleep(for: .milliseconds(5))
    }
}

public struct ConditionNotReached: Error, CustomStringConvertible {
    public let timeout: Duration
    public var description: String { "condition not reached within \(timeout)" }
}
