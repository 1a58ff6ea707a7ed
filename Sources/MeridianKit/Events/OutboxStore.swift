import Foundation
import SQLKit

/// The dispatcher's SQL over `outbox_events` and `outbox_deliveries`, one code path for both engines; the
/// only difference (row locks on PostgreSQL) is branched in `claim`.
public struct OutboxStore: Sendable {
    public let database: any Database

    public init(database: any Database) {
        self.database = database
    }

    /// One delivery a dispatcher holds the lease of.
    public struct Claim: Sendable, Equatable {
        public let eventID: String
        public let subscriber: String
        /// Attempts made before this one.
        public let attempts: Int
        public let createdAt: Date
    }

    /// Takes up to `limit` due deliveries (pending, due, not leased or lease expired) for `owner` until
    /// `leaseUntil`, in one statement that picks the rows and writes the lease. On PostgreSQL the sub-select's
    /// `FOR UPDATE SKIP LOCKED` lets concurrent dispatchers take disjoint rows (a row another claim has just
    /// leased is re-checked and left out); on SQLite the statement runs in an immediate transaction, the
    /// database's single writer, so claims are serialised.
    public func claim(owner: String, limit: Int, now: Date, leaseUntil: Date) async throws -> [Claim] {
        let nowMicros = Timestamp.micros(now)
        let lock: SQLQueryString = database.engine == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        return try await database.transaction { sql in
            try await sql.raw(
                """
                UPDATE outbox_deliveries
                SET lease_owner = \(bind: owner), lease_until = \(bind: Timestamp.micros(leaseUntil))
                WHERE (event_id, subscriber) IN (
                    SELECT event_id, subscriber FROM outbox_deliveries
                    WHERE status = \(bind: OutboxDeliveryStatus.pending.rawValue) AND next_attempt_at <= \(bind: nowMicros)
                    AND (lease_until IS NULL OR lease_until <= \(bind: nowMicros))
                    ORDER BY next_attempt_at, event_id LIMIT \(bind: Int64(limit))\(lock)
                )
                RETURNING event_id, subscriber, attempts, created_at
                """
            ).all().map { row in
                Claim(
                    eventID: try row.decode(column: "event_id", as: String.self),
                    subscriber: try row.decode(column: "subscriber", as: String.self),
                    attempts: Int(try row.decode(column: "attempts", as: Int64.self)),
                    createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)))
            }
        }
    }

    /// A stored event, its payload still sealed.
    public struct StoredEvent: Sendable {
        public let id: String
        public let type: String
        public let occurredAt: Date
        public let traceparent: String?
        public let tracestate: String?
        public let sealedPayload: Data
    }

    public func events(ids: [String]) async throws -> [String: StoredEvent] {
        guard !ids.isEmpty else { return [:] }
        return try await database.read { sql in
            let rows = try await sql.select()
                .columns("id", "type", "occurred_at", "traceparent", "tracestate", "payload")
                .from("outbox_events")
                .where("id", .in, SQLBind.group(Array(Set(ids))))
                .all()
            var events: [String: StoredEvent] = [:]
            for row in rows {
                let event = StoredEvent(
                    id: try row.decode(column: "id", as: String.self),
                    type: try row.decode(column: "type", as: String.self),
                    occurredAt: Timestamp.date(micros: try row.decode(column: "occurred_at", as: Int64.self)),
                    traceparent: try row.decode(column: "traceparent", as: String?.self),
                    tracestate: try row.decode(column: "tracestate", as: String?.self),
                    sealedPayload: try row.decode(column: "payload", as: Data.self))
                events[event.id] = event
            }
            return events
        }
    }

    /// Records a successful delivery, if `owner` still holds the lease (a dispatcher whose lease expired and
    /// was taken over records nothing: the new holder does).
    @discardableResult
    public func markDelivered(_ claim: Claim, owner: String, now: Date) async throws -> Bool {
        try await finish(
            claim, owner: owner,
            set: [
                ("status", SQLBind(OutboxDeliveryStatus.delivered.rawValue)),
                ("attempts", SQLBind(Int64(claim.attempts + 1))), ("delivered_at", SQLBind(Timestamp.micros(now))),
                ("last_error", SQLLiteral.null),
            ])
    }

    /// Records a failed attempt: pending again at `retryAt`, or dead when `retryAt` is nil.
    @discardableResult
    public func markFailed(_ claim: Claim, owner: String, error: String, retryAt: Date?) async throws -> Bool {
        var values: [(String, any SQLExpression)] = [
            ("attempts", SQLBind(Int64(claim.attempts + 1))), ("last_error", SQLBind(String(error.prefix(300)))),
        ]
        if let retryAt {
            values.append(("next_attempt_at", SQLBind(Timestamp.micros(retryAt))))
        } else {
            values.append(("status", SQLBind(OutboxDeliveryStatus.dead.rawValue)))
        }
        return try await finish(claim, owner: owner, set: values)
    }

    private func finish(_ claim: Claim, owner: String, set values: [(String, any SQLExpression)]) async throws -> Bool {
        try await database.transaction { sql in
            var update = sql.update("outbox_deliveries")
            for (column, value) in values { update = update.set(SQLIdentifier(column), to: value) }
            let rows = try await update
                .set("lease_owner", to: SQLLiteral.null)
                .set("lease_until", to: SQLLiteral.null)
                .where("event_id", .equal, SQLBind(claim.eventID))
                .where("subscriber", .equal, SQLBind(claim.subscriber))
                .where("status", .equal, SQLBind(OutboxDeliveryStatus.pending.rawValue))
                .where("lease_owner", .equal, SQLBind(owner))
                .returning("event_id")
                .all()
            return !rows.isEmpty
        }
    }

    /// Pending deliveries and the creation time of the oldest (the outbox lag).
    public struct Backlog: Sendable, Equatable {
        public let pending: Int
        public let oldestPending: Date?
    }

    public func backlog() async throws -> Backlog {
        try await database.read { sql in
            let row = try await sql.raw(
                """
                SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM outbox_deliveries
                WHERE status = \(bind: OutboxDeliveryStatus.pending.rawValue)
                """
            ).first()
            let pending = try row?.decode(column: "pending", as: Int64.self) ?? 0
            let oldest = try row?.decode(column: "oldest", as: Int64?.self)
            return Backlog(pending: Int(pending), oldestPending: oldest.map { Timestamp.date(micros: $0) })
        }
    }

    /// One delivery as an operator sees it (no payload).
    public struct Delivery: Sendable, Equatable {
        public let eventID: String
        public let subscriber: String
        public let status: OutboxDeliveryStatus
        public let attempts: Int
        public let nextAttemptAt: Date
        public let lastError: String?
        public let deliveredAt: Date?
    }

    /// The deliveries of one event, or of every event in `status`, oldest first.
    public func deliveries(eventID: String? = nil, status: OutboxDeliveryStatus? = nil, limit: Int = 200)
        async throws -> [Delivery]
    {
        try await database.read { sql in
            var query = sql.select()
                .columns("event_id", "subscriber", "status", "attempts", "next_attempt_at", "last_error", "delivered_at")
                .from("outbox_deliveries")
            if let eventID { query = query.where("event_id", .equal, SQLBind(eventID)) }
            if let status { query = query.where("status", .equal, SQLBind(status.rawValue)) }
            return try await query.orderBy("created_at").orderBy("event_id").orderBy("subscriber").limit(limit).all()
                .map { row in
                    Delivery(
                        eventID: try row.decode(column: "event_id", as: String.self),
                        subscriber: try row.decode(column: "subscriber", as: String.self),
                        status: OutboxDeliveryStatus(rawValue: try row.decode(column: "status", as: String.self))
                            ?? .pending,
                        attempts: Int(try row.decode(column: "attempts", as: Int64.self)),
                        nextAttemptAt: Timestamp.date(micros: try row.decode(column: "next_attempt_at", as: Int64.self)),
                        lastError: try row.decode(column: "last_error", as: String?.self),
                        deliveredAt: try row.decode(column: "delivered_at", as: Int64?.self).map {
                            Timestamp.date(micros: $0)
                        })
                }
        }
    }

    /// Sends dead deliveries again (all of them, or one event's): pending, due now, attempts reset, so the
    /// full retry budget applies once more. Returns how many were requeued.
    @discardableResult
    public func requeueDead(eventID: String? = nil, now: Date = Date()) async throws -> Int {
        try await database.transaction { sql in
            var update = sql.update("outbox_deliveries")
                .set("status", to: SQLBind(OutboxDeliveryStatus.pending.rawValue))
                .set("attempts", to: SQLBind(Int64(0)))
                .set("created_at", to: SQLBind(Timestamp.micros(now)))
                .set("next_attempt_at", to: SQLBind(Timestamp.micros(now)))
                .where("status", .equal, SQLBind(OutboxDeliveryStatus.dead.rawValue))
            if let eventID { update = update.where("event_id", .equal, SQLBind(eventID)) }
            return try await update.returning("event_id").all().count
        }
    }
}
