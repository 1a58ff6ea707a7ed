import MeridianKit
import SQLKit

/// The notifications schema, in order. Applied migrations are never edited; changes are new entries.
///
/// Every user-supplied value (message content, raw addresses, template bodies, push subscription keys, provider
/// answers) is a sealed `BLOB`/`BYTEA` column (`NotificationsEncryptedColumns`); the rest is ids, statuses,
/// categories, counters and times.
public enum NotificationsMigrations {
    public static let all: [Migration] = [
        IdempotencyMiddleware.migration,
        Migration("create_notifications") { sql, engine in
            let blob = engine == .postgres ? "BYTEA" : "BLOB"
            for statement in [
                """
                CREATE TABLE notifications (
                    id TEXT PRIMARY KEY,
                    user_id TEXT,
                    category TEXT NOT NULL,
                    template_id TEXT,
                    sender TEXT NOT NULL,
                    source_event_id TEXT,
                    content \(blob) NOT NULL,
                    address \(blob),
                    read_at BIGINT,
                    created_at BIGINT NOT NULL)
                """,
                "CREATE INDEX notifications_by_user ON notifications (user_id, id)",
                // One message per recipient per event, whatever happens to the inbox check.
                "CREATE UNIQUE INDEX notifications_one_per_event ON notifications (source_event_id, user_id)",
                """
                CREATE TABLE notification_deliveries (
                    id TEXT PRIMARY KEY,
                    notification_id TEXT NOT NULL REFERENCES notifications (id),
                    user_id TEXT,
                    channel TEXT NOT NULL CHECK (channel IN ('email', 'push', 'in_app')),
                    status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'dead')),
                    push_subscription_id TEXT,
                    attempts BIGINT NOT NULL,
                    next_attempt_at BIGINT NOT NULL,
                    lease_token TEXT,
                    lease_expires_at BIGINT,
                    queued_at BIGINT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    sent_at BIGINT)
                """,
                "CREATE INDEX deliveries_by_notification ON notification_deliveries (notification_id, id)",
                "CREATE INDEX deliveries_due ON notification_deliveries (status, next_attempt_at)",
                """
                CREATE TABLE delivery_attempts (
                    id TEXT PRIMARY KEY,
                    delivery_id TEXT NOT NULL REFERENCES notification_deliveries (id),
                    outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'transient', 'permanent', 'gone')),
                    provider_status BIGINT,
                    answer \(blob) NOT NULL,
                    started_at BIGINT NOT NULL,
                    finished_at BIGINT NOT NULL)
                """,
                "CREATE INDEX attempts_by_delivery ON delivery_attempts (delivery_id, id)",
                """
                CREATE TABLE notification_templates (
                    id TEXT PRIMARY KEY,
                    category TEXT NOT NULL,
                    content \(blob),
                    built_in BIGINT NOT NULL,
                    version BIGINT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE notification_preferences (
                    user_id TEXT NOT NULL,
                    category TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    enabled BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    PRIMARY KEY (user_id, category, channel))
                """,
                """
                CREATE TABLE push_subscriptions (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL,
                    endpoint \(blob) NOT NULL,
                    endpoint_index TEXT NOT NULL UNIQUE,
                    p256dh \(blob) NOT NULL,
                    auth \(blob) NOT NULL,
                    created_at BIGINT NOT NULL)
                """,
                "CREATE INDEX push_subscriptions_by_user ON push_subscriptions (user_id, id)",
                """
                CREATE TABLE vapid_keys (
                    id TEXT PRIMARY KEY,
                    private_key \(blob) NOT NULL,
                    public_key TEXT NOT NULL,
                    created_at BIGINT NOT NULL)
                """,
            ] {
                try await sql.raw(SQLQueryString(statement)).run()
            }
        },
        BuiltInTemplates.migration,
        PreferenceStore.versionsMigration,
        DeliveryQueue.traceMigration,
    ] + InboxMigrations.all
}
