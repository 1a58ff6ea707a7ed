import SQLKit

/// The inbox of a consuming service: one row per event id ever received. Opt-in: a consuming service lists
/// `InboxMigrations.all` among its migrations.
public enum InboxMigrations {
    public static let all: [Migration] = [
        Migration(
            "inbox_1_events",
            statements: [
                // outcome: applied (the handler's effect committed with this row) | ignored (a type this
                // service does not consume). No payload is kept: the effect is the record.
                """
                CREATE TABLE inbox_events (
                    id TEXT PRIMARY KEY,
                    type TEXT NOT NULL,
                    producer TEXT NOT NULL,
                    occurred_at BIGINT NOT NULL,
                    received_at BIGINT NOT NULL,
                    outcome TEXT NOT NULL
                )
                """,
                "CREATE INDEX inbox_events_received ON inbox_events (received_at)",
            ])
    ]
}
