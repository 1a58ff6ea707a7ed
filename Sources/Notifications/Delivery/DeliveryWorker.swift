import Foundation
import Logging
import MeridianKit
import ServiceLifecycle
import Synchronization

/// Delivers queued notifications: claims due deliveries in batches, attempts them concurrently, records each
/// result. A `Service` of the application; it starts claiming once the service is ready (migrations and keys
/// loaded) and on graceful shutdown stops claiming and finishes what it holds.
struct DeliveryWorker: Service {
    let queue: DeliveryQueue
    let dispatcher: DeliveryDispatcher
    let policy: RetryPolicy
    let readiness: Readiness
    let audit: AuditLog
    let metrics: DeliveryMetrics
    let logger: Logger
    var batchSize = 16
    var pollInterval: Duration = .milliseconds(250)
    /// What time it is: when a round claims, and when each attempt starts and ends (the retry schedule counts
    /// from the end). The wall clock in service; `runOnce(now:)` pins it, so tests drive retries exactly.
    var clock: @Sendable () -> Date = Date.init

    func run() async throws {
        let stopping = Atomic<Bool>(false)
        await withGracefulShutdownHandler {
            while !stopping.load(ordering: .acquiring) && !Task.isCancelled {
                if !readiness.isReady {
                    try? await Task.sleep(for: .milliseconds(50))
                    continue
                }
                let handled: Int
                do {
                    handled = try await runOnce()
                } catch {
                    logger.warning("delivery round failed", metadata: ["error": .string(String(describing: type(of: error)))])
                    handled = 0
                }
                if handled < batchSize { try? await Task.sleep(for: pollInterval) }
            }
        } onGracefulShutdown: {
            stopping.store(true, ordering: .releasing)
        }
    }

    /// One round: claims what is due now and attempts it. Returns how many deliveries it handled. Tests drive
    /// the queue with this instead of the background loop.
    @discardableResult
    func runOnce() async throws -> Int {
        let claims = try await queue.claim(limit: batchSize, now: clock())
        await withTaskGroup(of: Void.self) { group in
            for claim in claims {
                group.addTask { await deliver(claim) }
            }
        }
        return claims.count
    }

    /// One round at `now`, as if the clock read `now` throughout: the claim, the attempts' times and so the next
    /// attempt's time (after a failure, `now` plus the backoff or the provider's `Retry-After`) do not depend on
    /// how long the attempts took.
    @discardableResult
    func runOnce(now: Date) async throws -> Int {
        var pinned = self
        pinned.clock = { now }
        return try await pinned.runOnce()
    }

    private func deliver(_ claim: DeliveryQueue.Claim) async {
        let started = clock()
        let result = await tracedAttempt(claim.delivery)
        let delivery = claim.delivery
        do {
            let status = try await queue.complete(
                claim, result: result, startedAt: started, finishedAt: clock(), policy: policy
            ) { status, sql in
                guard status == .sent || status == .dead else { return }
                try await audit.append(
                    AuditEvent(
                        action: "notification.deliver", resourceType: "notification_delivery", resourceID: delivery.id,
                        outcome: status == .sent ? .success : .failure,
                        changes: .object([
                            "notification_id": .string(delivery.notificationID), "channel": .string(delivery.channel.rawValue),
                            "status": .string(status.rawValue), "attempts": .integer(Int64(delivery.attempts)),
                        ])),
                    actor: .system(NotificationsService.name), on: sql)
            }
            metrics.recordAttempt(channel: delivery.channel, result: status)
            logger.info(
                "delivery attempted",
                metadata: [
                    "delivery_id": .string(delivery.id), "notification_id": .string(delivery.notificationID),
                    "channel": .string(delivery.channel.rawValue), "attempt": "\(delivery.attempts)",
                    "outcome": .string(result.outcome.rawValue), "status": .string(status.rawValue),
                    "provider_status": "\(result.providerStatus.map(String.init) ?? "-")",
                ])
        } catch is DeliveryQueue.LeaseLost {
            logger.warning("delivery lease lost; another worker took it over", metadata: ["delivery_id": .string(delivery.id)])
        } catch {
            // The lease runs out and the delivery is claimed again.
            logger.error(
                "recording a delivery result failed",
                metadata: ["delivery_id": .string(delivery.id), "error": .string(String(describing: type(of: error)))])
        }
    }
}
