import MeridianKit

/// The users service's schema, oldest first. Names are recorded in `meridian_migrations`; never rename one.
public enum UsersMigrations {
    public static let all: [Migration] = [
        IdempotencyMiddleware.migration,
        Migration(
            "users_create",
            ciphertextStatements: { ciphertext in
                [
                    // `email` and `name` are FieldCipher ciphertext; `email_index` is the blind index of the
                    // lower-cased address, the only form of it a query can use. Roles are a JSON array of names.
                    """
                    CREATE TABLE users (
                        id TEXT PRIMARY KEY, email \(ciphertext) NOT NULL, email_index TEXT NOT NULL,
                        name \(ciphertext) NOT NULL, password_hash TEXT NOT NULL, roles TEXT NOT NULL,
                        version BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
                    """,
                    // The truth about email uniqueness (case-insensitive, as the index is of the lower-cased
                    // address): concurrent creates race here, not in application code.
                    "CREATE UNIQUE INDEX users_email_index_unique ON users (email_index)",
                ]
            }),
    ] + IdentityMigrations.all
}
