import Foundation
import MeridianKit
import SQLKit

/// One stored event as the support tooling sees it (properties opened).
struct StoredEvent: Sendable {
    var id: String
    var name: String
    var userID: String?
    var anonymousID: String?
    var occurredAt: Int64
    var receivedAt: Int64
    var source: String
    var properties: JSONValue?

    /// As JSON, built as a tree: the properties go out exactly as the client sent them, untouched by the
    /// shared encoder's snake_case key conversion.
    var json: JSONValue {
        .object([
            "id": .string(id), "name": .string(name), "user_id": userID.map(JSONValue.string) ?? .null,
            "anonymous_id": anonymousID.map(JSONValue.string) ?? .null,
            "timestamp": .string(Timestamp.format(Timestamp.date(micros: occurredAt))),
            "received_at": .string(Timestamp.format(Timestamp.date(micros: receivedAt))),
            "source": .string(source), "properties": properties ?? .object([:]),
        ])
    }

    /// The page cursor: time then id, the order of the user index.
    var cursor: String { "\(occurredAt):\(id)" }
}

/// Raw-event reads and the erasure of a user's events.
struct EventQueries: Sendable {
    let database: any Database
    let sealer: PropertySealer

    /// A user's events (by user id or anonymous id) in time order, after `page.after` (a `StoredEvent.cursor`).
    func events(of distinctID: String, page: PageRequest) async throws -> [StoredEvent] {
        try await database.read { sql in
            let query = sql.select()
                .columns(
                    "event_id", "event_name", "user_id", "anonymous_id", "occurred_at", "received_at", "source",
                    "properties"
                )
                .from("analytics_events").where("distinct_id", .equal, distinctID)
            if let after = page.after, let cursor = EventQueries.cursor(after) {
                query.where {
                    $0.where("occurred_at", .greaterThan, cursor.time)
                        .orWhere { $0.where("occurred_at", .equal, cursor.time).where("event_id", .greaterThan, cursor.id) }
                }
            }
            return try await query.orderBy("occurred_at").orderBy("event_id").limit(page.limit + 1).all().map { row in
                let id = try row.decode(column: "event_id", as: String.self)
                return StoredEvent(
                    id: id, name: try row.decode(column: "event_name", as: String.self),
                    userID: try row.decode(column: "user_id", as: String?.self),
                    anonymousID: try row.decode(column: "anonymous_id", as: String?.self),
                    occurredAt: try row.decode(column: "occurred_at", as: Int64.self),
                    receivedAt: try row.decode(column: "received_at", as: Int64.self),
                    source: try row.decode(column: "source", as: String.self),
                    properties: try row.decode(column: "properties", as: Data?.self).map {
                        try sealer.open($0, eventID: id)
                    })
            }
        }
    }

    static func cursor(_ text: String) -> (time: Int64, id: String)? {
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let time = Int64(parts[0]) else { return nil }
        return (time, String(parts[1]))
    }

    /// Every user's events of the funnel's steps whose time can matter, grouped per user in time order.
    func funnelEvents(steps: [String], from: Int64, to: Int64) async throws -> [String: [(name: String, time: Int64)]] {
        try await database.read { sql in
            let rows = try await sql.select().columns("distinct_id", "event_name", "occurred_at").from("analytics_events")
                .where("event_name", .in, Array(Set(steps)))
                .where("occurred_at", .greaterThanOrEqual, from).where("occurred_at", .lessThan, to)
                .orderBy("distinct_id").orderBy("occurred_at").orderBy("event_id")
                .all()
            var users: [String: [(name: String, time: Int64)]] = [:]
            for row in rows {
                users[try row.decode(column: "distinct_id", as: String.self), default: []].append(
                    (try row.decode(column: "event_name", as: String.self), try row.decode(column: "occurred_at", as: Int64.self)))
            }
            return users
        }
    }

    /// Deletes a user's raw events (matched by user id or anonymous id) and takes their counts out of the
    /// rollups; answers how many events were erased. Their contribution to the unique-user sketches cannot be
    /// taken out (a HyperLogLog register keeps the maximum of every user mapped to it) and stays: the sketches
    /// hold hashes, not ids. In the caller's transaction.
    func erase(_ distinctID: String, configuration breakdowns: PropertyBreakdowns, on sql: any SQLDatabase) async throws -> Int {
        let rows = try await sql.select().columns("event_id", "event_name", "occurred_at", "source", "properties")
            .from("analytics_events").where("distinct_id", .equal, distinctID).all()
        guard !rows.isEmpty else { return 0 }
        var decrements: [RollupKey: (count: Int64, errors: Int64)] = [:]
        for row in rows {
            let id = try row.decode(column: "event_id", as: String.self)
            let name = try row.decode(column: "event_name", as: String.self)
            let time = try row.decode(column: "occurred_at", as: Int64.self)
            let source = try row.decode(column: "source", as: String.self)
            let properties = try row.decode(column: "properties", as: Data?.self).map { try sealer.open($0, eventID: id) }
            let isUsage = source == EventSource.usage.rawValue
            let derived = isUsage ? UsageDimensions.derive(properties) : (breakdowns.dimensions(of: properties), false)
            let keys = [("", "")] + derived.0
            for interval in RollupInterval.allCases {
                let bucket = interval.bucket(time)
                for (dimension, value) in keys {
                    let key = RollupKey(interval: interval, bucket: bucket, name: name, dimension: dimension, value: value)
                    decrements[key, default: (0, 0)].count += 1
                    if derived.1 { decrements[key, default: (0, 0)].errors += 1 }
                }
            }
        }
        // In the order ingestion locks rollup rows (`RollupStore`), so an erasure and a concurrent ingestion on
        // PostgreSQL wait for each other instead of deadlocking.
        for (key, amount) in decrements.sorted(by: { RollupKey.primaryKeyOrder($0.key, $1.key) }) {
            try await sql.update("analytics_rollups")
                .set(SQLIdentifier("event_count"), to: SQLBinaryExpression(SQLIdentifier("event_count"), .subtract, SQLBind(amount.count)))
                .set(SQLIdentifier("error_count"), to: SQLBinaryExpression(SQLIdentifier("error_count"), .subtract, SQLBind(amount.errors)))
                .where("granularity", .equal, key.interval.rawValue).where("event_name", .equal, key.name)
                .where("dimension", .equal, key.dimension).where("bucket", .equal, key.bucket)
                .where("dim_value", .equal, key.value).where("event_count", .greaterThanOrEqual, amount.count)
                .run()
        }
        try await sql.delete(from: "analytics_events").where("distinct_id", .equal, distinctID).run()
        return rows.count
    }

    /// Deletes raw events older than `cutoff`, a bounded number at a time so the writer is never held long.
    func prune(before cutoff: Int64, limit: Int) async throws -> Int {
        try await database.transaction { sql in
            let ids = try await sql.select().column("event_id").from("analytics_events")
                .where("occurred_at", .lessThan, cutoff).orderBy("occurred_at").limit(limit)
                .all(decodingColumn: "event_id", as: String.self)
            guard !ids.isEmpty else { return 0 }
            try await sql.delete(from: "analytics_events").where("event_id", .in, ids).run()
            return ids.count
        }
    }
}
