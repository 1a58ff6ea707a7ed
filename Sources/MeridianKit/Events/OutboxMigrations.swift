import SQLKit

/// The outbox of a producing service: events (payload sealed at rest) and one delivery row per subscriber.
/// Opt-in: a producing service lists `OutboxMigrations.all` among its migrations.
public enum OutboxMigrations {
    public static let all: [Migration] = [
        Migration("outbox_1_events") { sql, engine in
            let bytes = engine == .postgres ? "BYTEA" : "BLOB"
            try await sql.raw(
                """
                CREATE TABLE outbox_events (
                    id TEXT PRIMARY KEY,
                    type TEXT NOT NULL,
                    occurred_at BIGINT NOT NULL,
                    traceparent TEXT,
                    tracestate TEXT,
                    payload \(unsafeRaw: bytes) NOT NULL
                )
                """
            ).run()
            // status: pending | delivered | dead. A pending row is claimed by setting lease_owner/lease_until;
            // an expired lease makes it claimable again (a dispatcher that crashed mid-delivery).
            try await sql.raw(
                """
                CREATE TABLE outbox_deliveries (
                    event_id TEXT NOT NULL REFERENCES outbox_events (id),
                    subscriber TEXT NOT NULL,
                    status TEXT NOT NULL,
                    attempts BIGINT NOT NULL,
                    created_at BIGINT NOT NULL,
                    next_attempt_at BIGINT NOT NULL,
                    lease_owner TEXT,
                    lease_until BIGINT,
                    last_error TEXT,
                    delivered_at BIGINT,
                    PRIMARY KEY (event_id, subscriber)
                )
                """
            ).run()
            try await sql.raw(
                "CREATE INDEX outbox_deliveries_due ON outbox_deliveries (status, next_attempt_at)"
            ).run()
        }
    ]
}
