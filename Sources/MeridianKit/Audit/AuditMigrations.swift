import SQLKit

/// The audit tables, in every service's own database; `ServiceCore` (and users) append them to the service's
/// migrations.
public enum AuditMigrations {
    public static let all: [Migration] = [
        Migration("audit_log_create") { sql, engine in
            let blob = engine == .postgres ? "BYTEA" : "BLOB"
            // `sequence` is the chain position, assigned under the append lock; `details` is the sealed JSON of
            // the change set, the source address and a random salt (so the plaintext hash gives nobody a way to
            // confirm a guessed change set). `hash` is SHA-256 over the canonical content and `previous_hash`.
            try await sql.raw(
                """
                CREATE TABLE audit_log (
                    sequence BIGINT PRIMARY KEY, id TEXT NOT NULL UNIQUE, occurred_at BIGINT NOT NULL,
                    actor_sub TEXT, actor_client_id TEXT, actor_roles TEXT NOT NULL,
                    action TEXT NOT NULL, resource_type TEXT NOT NULL, resource_id TEXT,
                    request_id TEXT, trace_id TEXT, outcome TEXT NOT NULL,
                    details \(unsafeRaw: blob) NOT NULL, previous_hash TEXT NOT NULL, hash TEXT NOT NULL)
                """
            ).run()
            for (name, columns) in [
                ("audit_log_actor_sub", "actor_sub, sequence"), ("audit_log_actor_client", "actor_client_id, sequence"),
                ("audit_log_resource", "resource_type, resource_id, sequence"), ("audit_log_action", "action, sequence"),
                ("audit_log_time", "occurred_at, sequence"),
            ] {
                try await sql.raw("CREATE INDEX \(unsafeRaw: name) ON audit_log (\(unsafeRaw: columns))").run()
            }
            // The Ed25519 keys that sign checkpoints: the private key sealed by the service's field cipher, the
            // public key beside it in the clear so anyone can verify.
            try await sql.raw(
                """
                CREATE TABLE audit_signing_keys (
                    id TEXT PRIMARY KEY, public_key TEXT NOT NULL, private_key \(unsafeRaw: blob) NOT NULL,
                    created_at BIGINT NOT NULL)
                """
            ).run()
            // A signed statement "the chain of this service had this head": truncation or rewriting of signed
            // records cannot go unnoticed without the private key.
            try await sql.raw(
                """
                CREATE TABLE audit_checkpoints (
                    sequence BIGINT PRIMARY KEY, head_hash TEXT NOT NULL, signed_at BIGINT NOT NULL,
                    key_id TEXT NOT NULL, signature TEXT NOT NULL)
                """
            ).run()
        }
    ]
}
