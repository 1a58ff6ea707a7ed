import Foundation
import MeridianKit
import SQLKit

/// The schema of roles and the authorization server, appended to `UsersMigrations.all`. Times are BIGINT
/// microseconds; tokens, codes and secrets appear only as hashes.
enum IdentityMigrations {
    static let all: [Migration] = [rolesCreate, oauthCreate, seed]

    static let rolesCreate = Migration(
        "roles_create",
        statements: [
            // Users keep their role names in `users.roles` (a JSON array): the API shape of a user is
            // `roles: [...]`, and one row per user keeps an assignment atomic with the user's version.
            """
            CREATE TABLE roles (
                name TEXT PRIMARY KEY, permissions TEXT NOT NULL, built_in INTEGER NOT NULL,
                version BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
            """
        ])

    static let oauthCreate = Migration(
        "oauth_create",
        ciphertextStatements: { ciphertext in [
            // Client-supplied values (names, redirect URIs, PKCE challenges), private keys and secrets are
            // FieldCipher ciphertext; scopes and grant types are closed sets the service validates.
            """
            CREATE TABLE oauth_clients (
                id TEXT PRIMARY KEY, name \(ciphertext) NOT NULL, type TEXT NOT NULL, secret_hash TEXT,
                redirect_uris \(ciphertext) NOT NULL, allowed_scopes TEXT NOT NULL, grant_types TEXT NOT NULL,
                built_in INTEGER NOT NULL, created_at BIGINT NOT NULL)
            """,
            // `family_id` names the grant: every token issued from the code carries it, so a replayed code can
            // revoke them all.
            """
            CREATE TABLE authorization_codes (
                code_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, user_id TEXT NOT NULL,
                redirect_uri \(ciphertext) NOT NULL, code_challenge \(ciphertext), code_challenge_method TEXT, scope TEXT NOT NULL,
                family_id TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT)
            """,
            "CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at)",
            """
            CREATE TABLE refresh_tokens (
                token_hash TEXT PRIMARY KEY, family_id TEXT NOT NULL, code_hash TEXT, client_id TEXT NOT NULL,
                user_id TEXT NOT NULL, scope TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
                used_at BIGINT, revoked_at BIGINT)
            """,
            "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",
            """
            CREATE TABLE issued_access_tokens (
                jti TEXT PRIMARY KEY, family_id TEXT, client_id TEXT NOT NULL, subject TEXT NOT NULL,
                issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked_at BIGINT)
            """,
            "CREATE INDEX issued_access_tokens_family ON issued_access_tokens (family_id)",
            "CREATE INDEX issued_access_tokens_expires ON issued_access_tokens (expires_at)",
            """
            CREATE TABLE signing_keys (
                kid TEXT PRIMARY KEY, private_key \(ciphertext) NOT NULL, created_at BIGINT NOT NULL, retired_at BIGINT)
            """,
            // One row per throttled subject (`account:<hmac>` or `address:<hmac>`), not per failure, so an attack
            // cannot grow the table faster than it finds new subjects; stale rows are purged.
            """
            CREATE TABLE login_failures (
                subject TEXT PRIMARY KEY, failures BIGINT NOT NULL, last_failure_at BIGINT NOT NULL)
            """,
            "CREATE INDEX login_failures_last ON login_failures (last_failure_at)",
            // Keys this service derives MACs from (the login form's CSRF tokens, the throttle's subject keys).
            "CREATE TABLE service_secrets (name TEXT PRIMARY KEY, value \(ciphertext) NOT NULL, created_at BIGINT NOT NULL)",
        ] })

    /// The built-in roles (their permissions live in `BuiltInRole`, so the column stays empty). The public
    /// client of `meridian login` is stored once the cipher is loaded (`SQLClientRepository.ensureBuiltInClients`),
    /// because its name and redirect URI are ciphertext like every client's.
    static let seed = Migration("identity_seed") { sql, _ in
        let now = Timestamp.micros(Date())
        for role in BuiltInRole.allCases {
            try await sql.insert(into: "roles")
                .columns("name", "permissions", "built_in", "version", "created_at", "updated_at")
                .values(SQLBind(role.rawValue), SQLBind("[]"), SQLBind(1), SQLBind(Int64(1)), SQLBind(now), SQLBind(now))
                .run()
        }
    }
}

/// String arrays stored as JSON text, readable on both engines.
enum JSONText {
    static func encode(_ values: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(values), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(text.utf8))
    }
}
