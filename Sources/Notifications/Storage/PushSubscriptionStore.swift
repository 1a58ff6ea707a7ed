import Foundation
import MeridianKit
import SQLKit

/// A browser's Web Push subscription (the Push API's `PushSubscription`): where to send and the keys to
/// encrypt for.
struct PushSubscription: Sendable {
    var id: String
    var userID: String
    var endpoint: String
    /// The subscription's P-256 public key, 65 bytes uncompressed.
    var p256dh: Data
    /// The 16-byte authentication secret.
    var auth: Data
    var createdAt: Date
}

/// Push subscriptions: endpoint and keys sealed; the endpoint's blind index keeps one row per endpoint.
struct PushSubscriptionStore: Sendable {
    let database: any Database
    let sealer: Sealer

    static let table = "push_subscriptions"

    func endpointIndex(_ endpoint: String) -> String { sealer.blindIndex(endpoint, Self.table, "endpoint") }

    /// Inserts the subscription, or returns the one already stored for its endpoint (a browser re-subscribing
    /// sends the same endpoint) when it belongs to the same user. `existing` is true then.
    func insert(_ subscription: PushSubscription, on sql: any SQLDatabase) async throws -> (PushSubscription, existing: Bool)? {
        let index = endpointIndex(subscription.endpoint)
        if let row = try await sql.select().column("*").from(Self.table).where("endpoint_index", .equal, SQLBind(index)).first() {
            let stored = try subscriptionFrom(row)
            return stored.userID == subscription.userID ? (stored, true) : nil
        }
        let id = subscription.id
        try await sql.insert(into: Self.table)
            .columns("id", "user_id", "endpoint", "endpoint_index", "p256dh", "auth", "created_at")
            .values(
                SQLBind(id), SQLBind(subscription.userID),
                SQLBind(try sealer.seal(subscription.endpoint, Self.table, "endpoint", id)), SQLBind(index),
                SQLBind(try sealer.cipher.sealBytes(subscription.p256dh, table: Self.table, column: "p256dh", rowID: id)),
                SQLBind(try sealer.cipher.sealBytes(subscription.auth, table: Self.table, column: "auth", rowID: id)),
                SQLBind(Timestamp.micros(subscription.createdAt))
            ).run()
        return (subscription, false)
    }

    func subscription(id: String) async throws -> PushSubscription? {
        try await database.read { sql in
            try await sql.select().column("*").from(Self.table).where("id", .equal, SQLBind(id)).first()
                .map(subscriptionFrom)
        }
    }

    func subscriptions(userID: String?, page: PageRequest) async throws -> [PushSubscription] {
        try await database.read { sql in
            let query = sql.select().column("*").from(Self.table)
            if let userID { query.where("user_id", .equal, SQLBind(userID)) }
            if let after = page.after { query.where("id", .greaterThan, SQLBind(after)) }
            return try await query.orderBy("id").limit(page.limit + 1).all().map(subscriptionFrom)
        }
    }

    /// Ids of every subscription of the user, for fanning a push out.
    func subscriptionIDs(userID: String, on sql: any SQLDatabase) async throws -> [String] {
        try await sql.select().column("id").from(Self.table).where("user_id", .equal, SQLBind(userID)).orderBy("id")
            .all().map { try $0.decode(column: "id", as: String.self) }
    }

    /// Whether a row was deleted (false: it was already gone).
    static func delete(id: String, on sql: any SQLDatabase) async throws -> Bool {
        try await !sql.delete(from: Self.table).where("id", .equal, SQLBind(id)).returning("id").all().isEmpty
    }

    func subscriptionFrom(_ row: any SQLRow) throws -> PushSubscription {
        let id = try row.decode(column: "id", as: String.self)
        return PushSubscription(
            id: id,
            userID: try row.decode(column: "user_id", as: String.self),
            endpoint: try sealer.open(try row.decode(column: "endpoint", as: Data.self), Self.table, "endpoint", id),
            p256dh: try sealer.cipher.openBytes(
                try row.decode(column: "p256dh", as: Data.self), table: Self.table, column: "p256dh", rowID: id),
            auth: try sealer.cipher.openBytes(
                try row.decode(column: "auth", as: Data.self), table: Self.table, column: "auth", rowID: id),
            createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)))
    }
}
