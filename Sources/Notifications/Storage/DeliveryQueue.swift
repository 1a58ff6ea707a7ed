import Foundation
import MeridianKit
import SQLKit

/// The durable queue of deliveries. Workers claim due deliveries atomically and hold them under a lease: a
/// worker that dies mid-delivery leaves its lease to expire, and the delivery is claimed again. Completing a
/// delivery checks the lease is still the worker's, so a worker that was presumed dead cannot overwrite the
/// work of the one that took over.
struct DeliveryQueue: Sendable {
    let database: any Database
    let rows: NotificationRows
    let lease: Duration
    /// Records the deletions the queue makes on its own (a push subscription the push service says is gone).
    let audit: AuditLog

    struct Claim: Sendable {
        var delivery: Delivery
        var leaseToken: String
    }

    /// Claims up to `limit` deliveries that are due (queued, failed and due again, or sending with an expired
    /// lease), marking them `sending` and counting the attempt. PostgreSQL workers skip rows another worker is
    /// claiming (`FOR UPDATE SKIP LOCKED`); SQLite runs one writer at a time, so its claim is atomic as it is.
    func claim(limit: Int, now: Date) async throws -> [Claim] {
        let token = Identifier.make(prefix: "lease")
        let nowMicros = Timestamp.micros(now)
        let expires = nowMicros + Int64(lease.seconds * 1_000_000)
        let lock = database.engine == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        var statement: SQLQueryString = "UPDATE notification_deliveries SET status = 'sending', attempts = attempts + 1, "
        statement.appendLiteral("lease_token = ")
        statement.appendInterpolation(bind: token)
        statement.appendLiteral(", lease_expires_at = ")
        statement.appendInterpolation(bind: expires)
        statement.appendLiteral(", updated_at = ")
        statement.appendInterpolation(bind: nowMicros)
        statement.appendLiteral(
            " WHERE id IN (SELECT id FROM notification_deliveries WHERE ((status IN ('queued', 'failed') AND next_attempt_at <= ")
        statement.appendInterpolation(bind: nowMicros)
        statement.appendLiteral(") OR (status = 'sending' AND lease_expires_at <= ")
        statement.appendInterpolation(bind: nowMicros)
        statement.appendLiteral(")) ORDER BY next_attempt_at, id LIMIT ")
        statement.appendInterpolation(literal: limit)
        statement.appendLiteral(lock + ") RETURNING *")
        return try await database.transaction { sql in
            try await sql.raw(statement).all()
                .map { Claim(delivery: try NotificationRows.delivery(from: $0), leaseToken: token) }
                .sorted { $0.delivery.id < $1.delivery.id }
        }
    }

    struct LeaseLost: Error {}

    /// Records the attempt and moves the delivery on: `sent`; `failed` with the next attempt's time; or `dead`
    /// (refused for good, or out of attempts or time). A push subscription that is gone is deleted, and the
    /// deletion audited, in the same transaction. `after` runs in the transaction too (the audit record of a
    /// final outcome).
    func complete(
        _ claim: Claim, result: ChannelResult, startedAt: Date, finishedAt: Date, policy: RetryPolicy,
        jitter: Double = Double.random(in: 0...1),
        after: @Sendable (DeliveryStatus, any SQLDatabase) async throws -> Void = { _, _ in }
    ) async throws -> DeliveryStatus {
        let delivery = claim.delivery
        var status: DeliveryStatus
        var nextAttempt = finishedAt
        switch result.outcome {
        case .sent:
            status = .sent
        case .permanent, .gone:
            status = .dead
        case .transient:
            if let next = policy.nextAttempt(
                after: delivery.attempts, createdAt: delivery.queuedAt, now: finishedAt, retryAfter: result.retryAfter,
                jitter: jitter)
            {
                status = .failed
                nextAttempt = next
            } else {
                status = .dead
            }
        }
        let attempt = DeliveryAttempt(
            id: Identifier.make(prefix: "att"), deliveryID: delivery.id, outcome: result.outcome,
            providerStatus: result.providerStatus, answer: result.answer, startedAt: startedAt, finishedAt: finishedAt)
        let finalStatus = status
        return try await database.transaction { sql in
            let update = sql.update("notification_deliveries")
                .set("status", to: SQLBind(finalStatus.rawValue))
                .set("next_attempt_at", to: SQLBind(Timestamp.micros(nextAttempt)))
                .set("updated_at", to: SQLBind(Timestamp.micros(finishedAt)))
                .set("lease_token", to: SQLLiteral.null).set("lease_expires_at", to: SQLLiteral.null)
            if finalStatus == .sent { update.set("sent_at", to: SQLBind(Timestamp.micros(finishedAt))) }
            let changed = try await update.where("id", .equal, SQLBind(delivery.id))
                .where("status", .equal, SQLBind(DeliveryStatus.sending.rawValue))
                .where("lease_token", .equal, SQLBind(claim.leaseToken))
                .returning("id").all()
            guard !changed.isEmpty else { throw LeaseLost() }
            try await sql.insert(into: "delivery_attempts").columns(NotificationRows.attemptColumns)
                .values(try rows.values(of: attempt)).run()
            if result.outcome == .gone, let subscription = delivery.pushSubscriptionID {
                try await deleteGoneSubscription(subscription, of: delivery, result: result, on: sql)
            }
            try await after(finalStatus, sql)
            return finalStatus
        }
    }
}

extension DeliveryQueue {
    /// Deletes a subscription the push service answered 404 or 410 for. The deletion is a change of state like
    /// the API's `DELETE`, so it leaves the same audit record, with the service as the actor (no one asked for
    /// it) and the push service's answer as the reason. A subscription already gone (deleted by its owner while
    /// the delivery waited) was audited when it went, so nothing is recorded twice.
    fileprivate func deleteGoneSubscription(
        _ id: String, of delivery: Delivery, result: ChannelResult, on sql: any SQLDatabase
    ) async throws {
        guard try await PushSubscriptionStore.delete(id: id, on: sql) else { return }
        try await audit.append(
            AuditEvent(
                action: "push_subscription.delete", resourceType: "push_subscription", resourceID: id,
                changes: .object([
                    "user_id": delivery.userID.map(JSONValue.string) ?? .null,
                    "delivery_id": .string(delivery.id),
                    "provider_status": result.providerStatus.map { .integer(Int64($0)) } ?? .null,
                ])),
            actor: .system(NotificationsService.name), on: sql)
    }
}
