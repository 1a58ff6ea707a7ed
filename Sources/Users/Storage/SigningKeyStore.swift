import Foundation
import MeridianKit
import SQLKit

/// A row of `signing_keys`. The private key is PEM in plaintext until the data-protection issue wraps it.
struct StoredSigningKey: Sendable, Equatable {
    let kid: String
    let privateKeyPEM: String
    let createdAt: Date
}

/// `signing_keys` on SQLKit.
struct SigningKeyStore: Sendable {
    let database: any Database

    /// The keys not yet retired, oldest first.
    func active() async throws -> [StoredSigningKey] {
        try await database.read { sql in try await SigningKeyStore.active(sql) }
    }

    static func active(_ sql: any SQLDatabase) async throws -> [StoredSigningKey] {
        try await sql.select().columns("kid", "private_key_pem", "created_at").from("signing_keys")
            .where(SQLColumn("retired_at"), .is, SQLLiteral.null)
            .orderBy("created_at").orderBy("kid")
            .all()
            .map { row in
                StoredSigningKey(
                    kid: try row.decode(column: "kid", as: String.self),
                    privateKeyPEM: try row.decode(column: "private_key_pem", as: String.self),
                    createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)))
            }
    }

    static func insert(_ key: StoredSigningKey, _ sql: any SQLDatabase) async throws {
        try await sql.insert(into: "signing_keys").columns("kid", "private_key_pem", "created_at")
            .values(SQLBind(key.kid), SQLBind(key.privateKeyPEM), SQLBind(Timestamp.micros(key.createdAt))).run()
    }

    static func retire(_ kids: [String], at date: Date, _ sql: any SQLDatabase) async throws {
        guard !kids.isEmpty else { return }
        try await sql.update("signing_keys").set("retired_at", to: SQLBind(Timestamp.micros(date)))
            .where("kid", .in, kids)
            .where(SQLColumn("retired_at"), .is, SQLLiteral.null)
            .run()
    }
}
