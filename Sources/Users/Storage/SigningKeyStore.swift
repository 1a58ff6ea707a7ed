import Foundation
import MeridianKit
import SQLKit

/// A row of `signing_keys`. The private key's PEM is stored as `FieldCipher` ciphertext (`private_key`).
struct StoredSigningKey: Sendable, Equatable {
    let kid: String
    let privateKeyPEM: String
    let createdAt: Date
}

/// `signing_keys` on SQLKit.
struct SigningKeyStore: Sendable {
    let database: any Database
    let cipher: FieldCipher

    static let encryptedColumns = [EncryptedColumn(table: "signing_keys", column: "private_key", idColumn: "kid")]

    /// The keys not yet retired, oldest first.
    func active() async throws -> [StoredSigningKey] {
        try await database.read { sql in try await active(sql) }
    }

    func active(_ sql: any SQLDatabase) async throws -> [StoredSigningKey] {
        try await sql.select().columns("kid", "private_key", "created_at").from("signing_keys")
            .where(SQLColumn("retired_at"), .is, SQLLiteral.null)
            .orderBy("created_at").orderBy("kid")
            .all()
            .map { row in
                let kid = try row.decode(column: "kid", as: String.self)
                return StoredSigningKey(
                    kid: kid,
                    privateKeyPEM: try cipher.open(
                        row.decode(column: "private_key", as: Data.self), table: "signing_keys", column: "private_key",
                        rowID: kid),
                    createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)))
            }
    }

    func insert(_ key: StoredSigningKey, _ sql: any SQLDatabase) async throws {
        let sealed = try cipher.seal(key.privateKeyPEM, table: "signing_keys", column: "private_key", rowID: key.kid)
        try await sql.insert(into: "signing_keys").columns("kid", "private_key", "created_at")
            .values(SQLBind(key.kid), SQLBind(sealed), SQLBind(Timestamp.micros(key.createdAt))).run()
    }

    static func retire(_ kids: [String], at date: Date, _ sql: any SQLDatabase) async throws {
        guard !kids.isEmpty else { return }
        try await sql.update("signing_keys").set("retired_at", to: SQLBind(Timestamp.micros(date)))
            .where("kid", .in, kids)
            .where(SQLColumn("retired_at"), .is, SQLLiteral.null)
            .run()
    }
}
