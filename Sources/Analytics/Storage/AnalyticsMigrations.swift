import MeridianKit

/// The analytics schema, in order. Applied migrations are never edited; changes are new entries.
public enum AnalyticsMigrations {
    public static let all: [Migration] = [
        IdempotencyMiddleware.migration
    ]
}
