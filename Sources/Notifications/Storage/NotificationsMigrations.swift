import MeridianKit

/// The notifications schema, in order. Applied migrations are never edited; changes are new entries.
public enum NotificationsMigrations {
    public static let all: [Migration] = [
        IdempotencyMiddleware.migration
    ]
}
