import Foundation
import MeridianKit
import SQLKit

/// The Segment write keys.
struct WriteKeyStore: Sendable {
    let database: any Database

    func insert(_ key: WriteKey, secretHash: String, on sql: any SQLDatabase) async throws {
        try await sql.insert(into: "analytics_write_keys")
            .columns("id", "key_hash", "key_prefix", "created_at", "created_by", "revoked_at")
            .values(
                SQLBind(key.id), SQLBind(secretHash), SQLBind(key.prefix), SQLBind(Timestamp.micros(key.createdAt)),
                SQLBind(key.createdBy), SQLLiteral.null
            ).run()
    }

    /// Keys in creation order (ids are time-ordered), after `page.after`.
    func list(_ page: PageRequest) async throws -> [WriteKey] {
        try await database.read { sql in
            let query = sql.select().columns(WriteKeyStore.columns).from("analytics_write_keys")
            if let after = page.after { query.where("id", .greaterThan, after) }
            return try await query.orderBy("id").limit(page.limit + 1).all().map(WriteKeyStore.decode)
        }
    }

    /// Marks a key revoked; nil when there is no such key. Revoking twice keeps the first time.
    func revoke(id: String, at time: Date, on sql: any SQLDatabase) async throws -> WriteKey? {
        guard var key = try await sql.select().columns(WriteKeyStore.columns).from("analytics_write_keys")
            .where("id", .equal, id).first().map(WriteKeyStore.decode)
        else { return nil }
        if key.revokedAt == nil {
            try await sql.update("analytics_write_keys").set("revoked_at", to: Timestamp.micros(time))
                .where("id", .equal, id).run()
            key.revokedAt = time
        }
        return key
    }

    /// Whether `secret` is a live (unrevoked) key.
    func isLive(secret: String) async throws -> Bool {
        try await database.read { sql in
            try await sql.select().column("id").from("analytics_write_keys")
                .where("key_hash", .equal, WriteKey.hash(secret)).where("revoked_at", .is, SQLLiteral.null)
                .first() != nil
        }
    }

    static let columns = ["id", "key_prefix", "created_at", "created_by", "revoked_at"]

    static func decode(_ row: any SQLRow) throws -> WriteKey {
        WriteKey(
            id: try row.decode(column: "id", as: String.self),
            prefix: try row.decode(column: "key_prefix", as: String.self),
            createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)),
            createdBy: try row.decode(column: "created_by", as: String.self),
            revokedAt: try row.decode(column: "revoked_at", as: Int64?.self).map { Timestamp.date(micros: $0) })
    }
}
