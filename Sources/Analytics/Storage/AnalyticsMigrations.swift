import MeridianKit

/// The analytics schema, in order. Applied migrations are never edited; changes are new entries.
public enum AnalyticsMigrations {
    /// The audit log's migrations are not listed: `ServiceCore` appends them (with the data keys') for every
    /// service, and the analytics audit records live in that shared log.
    public static let all: [Migration] =
        [IdempotencyMiddleware.migration] + InboxMigrations.all + [events, rollups, writeKeys]

    /// Raw events. `event_id` is the client's id: its primary key is the unique key that drops duplicates
    /// synchronously. `properties` is ciphertext; `name`, the ids and the times are what queries filter on.
    static let events = Migration("analytics-001-events") { sql, engine in
        let blob = engine == .postgres ? "BYTEA" : "BLOB"
        for statement in [
            """
            CREATE TABLE analytics_events (
                event_id TEXT PRIMARY KEY,
                event_name TEXT NOT NULL,
                distinct_id TEXT NOT NULL,
                user_id TEXT,
                anonymous_id TEXT,
                occurred_at BIGINT NOT NULL,
                received_at BIGINT NOT NULL,
                source TEXT NOT NULL,
                properties \(blob)
            )
            """,
            "CREATE INDEX analytics_events_by_user ON analytics_events (distinct_id, occurred_at, event_id)",
            "CREATE INDEX analytics_events_by_name ON analytics_events (event_name, occurred_at)",
            "CREATE INDEX analytics_events_by_time ON analytics_events (occurred_at)",
        ] {
            try await sql.raw(SQLQueryStringBuilder.make(statement)).run()
        }
    }

    /// One row per (interval, bucket, event name, breakdown value): counts, a HyperLogLog of users and, for
    /// usage telemetry, an HDR histogram of latencies.
    static let rollups = Migration("analytics-002-rollups") { sql, engine in
        let blob = engine == .postgres ? "BYTEA" : "BLOB"
        try await sql.raw(SQLQueryStringBuilder.make("""
            CREATE TABLE analytics_rollups (
                granularity TEXT NOT NULL,
                bucket BIGINT NOT NULL,
                event_name TEXT NOT NULL,
                dimension TEXT NOT NULL,
                dim_value TEXT NOT NULL,
                event_count BIGINT NOT NULL,
                error_count BIGINT NOT NULL,
                users \(blob) NOT NULL,
                latency \(blob),
                PRIMARY KEY (granularity, event_name, dimension, bucket, dim_value)
            )
            """)).run()
    }

    /// Segment write keys, stored as SHA-256 hashes: a leaked database does not leak a usable key.
    static let writeKeys = Migration(
        "analytics-003-write-keys",
        statements: [
            """
            CREATE TABLE analytics_write_keys (
                id TEXT PRIMARY KEY,
                key_hash TEXT NOT NULL UNIQUE,
                key_prefix TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                created_by TEXT NOT NULL,
                revoked_at BIGINT
            )
            """
        ])
}
