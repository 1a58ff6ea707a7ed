import MeridianKit

/// The users service's schema, oldest first. Names are recorded in `meridian_migrations`; never rename one.
public enum UsersMigrations {
    public static let all: [Migration] = [
        IdempotencyMiddleware.migration,
        Migration(
            "users_create",
            statements: [
                // Roles are a JSON array of names until the identity issue gives them tables of their own.
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY, email TEXT NOT NULL, email_lower TEXT NOT NULL, name TEXT NOT NULL,
                    password_hash TEXT NOT NULL, roles TEXT NOT NULL, version BIGINT NOT NULL,
                    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
                """,
                // The truth about email uniqueness: concurrent creates race here, not in application code.
                "CREATE UNIQUE INDEX users_email_lower_unique ON users (email_lower)",
            ]),
    ] + IdentityMigrations.all
}
