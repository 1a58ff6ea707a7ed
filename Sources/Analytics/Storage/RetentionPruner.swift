import Foundation
import Logging
import MeridianKit
import ServiceLifecycle

/// Deletes raw events older than the retention period, in the background, a bounded batch per transaction so
/// ingestion is never held up for long. Rollups are kept.
struct RetentionPruner: Service {
    let events: EventQueries
    let retentionDays: Int
    let interval: Duration
    let logger: Logger

    static let batchSize = 10_000

    func run() async throws {
        // Stops at graceful shutdown: the sleep is cancelled and the loop ends.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await pruneOnce()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Prunes everything currently past retention; answers how many events were deleted.
    @discardableResult
    func pruneOnce(now: Date = Date()) async -> Int {
        let cutoff = Timestamp.micros(now) - Int64(retentionDays) * RollupInterval.day.micros
        var total = 0
        do {
            while !Task.isCancelled {
                let deleted = try await events.prune(before: cutoff, limit: RetentionPruner.batchSize)
                total += deleted
                if deleted < RetentionPruner.batchSize { break }
            }
        } catch {
            logger.warning("pruning raw events failed; retrying at the next run", metadata: ["error": "\(type(of: error))"])
        }
        if total > 0 { logger.info("pruned raw events past retention", metadata: ["events": "\(total)"]) }
        return total
    }
}
