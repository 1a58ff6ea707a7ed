import Logging
import MeridianKit
import ServiceLifecycle
import Synchronization

/// Runs one operation on a service's data with no listener: the database runs as a service beside the
/// operation, and stops when the operation is done. What the admin verbs and the start-up account bootstrap
/// use.
enum Offline {
    static func run<Value: Sendable>(
        on database: any Database, logger: Logger, _ operation: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let outcome = Outcome<Value>()
        let task = OneShot {
            // Kept rather than thrown: the group would report it wrapped, and the verb should print the cause.
            let result: Result<Value, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            outcome.result.withLock { $0 = result }
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: database),
                    .init(service: task, successTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: Platform.shutdownSignals, logger: logger))
        try await group.run()
        guard let result = outcome.result.withLock({ $0 }) else {
            throw ConfigurationError(description: "interrupted before the operation finished")
        }
        return try result.get()
    }
}

/// An operation run once as a service.
struct OneShot: Service {
    let operation: @Sendable () async -> Void
    func run() async throws { await operation() }
}

/// Where the operation leaves its result for the caller, who reads it after the group has stopped.
final class Outcome<Value: Sendable>: Sendable {
    let result = Mutex<Result<Value, any Error>?>(nil)
}
