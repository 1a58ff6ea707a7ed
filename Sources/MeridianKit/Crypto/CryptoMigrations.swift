import SQLKit

/// The tables of encryption at rest, in every service's own database: the wrapped keys and the progress of
/// re-encryption after a rotation. `ServiceCore` appends these to a service's migrations.
public enum CryptoMigrations {
    public static let all: [Migration] = [
        Migration("crypto_keys_create") { sql, engine in
            let blob = engine == .postgres ? "BYTEA" : "BLOB"
            // `purpose` is `data` (versioned keys of field values) or `index` (the blind-index seed, version 0).
            // `wrapped` is AES-256-GCM under the master key; a retired key's material is erased (NULL).
            try await sql.raw(
                """
                CREATE TABLE meridian_data_keys (
                    purpose TEXT NOT NULL, version BIGINT NOT NULL, wrapped \(unsafeRaw: blob),
                    state TEXT NOT NULL CHECK (state IN ('primary', 'active', 'retired')),
                    created_at BIGINT NOT NULL, retired_at BIGINT, PRIMARY KEY (purpose, version))
                """
            ).run()
            // Two writers creating a first key, or two rotations, cannot both win.
            try await sql.raw(
                "CREATE UNIQUE INDEX meridian_data_keys_one_primary ON meridian_data_keys (purpose) WHERE state = 'primary'"
            ).run()
            // One row per encrypted column: the rotation job's cursor (rows with ids up to `after_id` were
            // checked for `target_version`), so a restarted job resumes instead of starting over.
            try await sql.raw(
                """
                CREATE TABLE meridian_reencryption (
                    table_name TEXT NOT NULL, column_name TEXT NOT NULL, target_version BIGINT NOT NULL,
                    after_id TEXT NOT NULL, rows_done BIGINT NOT NULL, updated_at BIGINT NOT NULL,
                    PRIMARY KEY (table_name, column_name))
                """
            ).run()
        }
    ]
}

extension Migration {
    /// A migration of plain SQL statements that declare ciphertext columns: `statements` receives the column
    /// type of `FieldCipher` output on the engine (`BLOB` on SQLite, `BYTEA` on PostgreSQL).
    public init(_ name: String, ciphertextStatements statements: @escaping @Sendable (_ ciphertext: String) -> [String]) {
        self.init(name) { sql, engine in
            for statement in statements(engine == .postgres ? "BYTEA" : "BLOB") {
                try await sql.raw(SQLQueryString(statement)).run()
            }
        }
    }
}
