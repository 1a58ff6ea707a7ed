import Foundation
import MeridianKit
import SQLKit

/// Applies a batch's rollup deltas: each touched row is read once, merged in memory (counts added, sketches
/// merged) and written once.
///
/// Concurrency: rows are created empty first (`ON CONFLICT DO NOTHING`), then read with `FOR UPDATE` on
/// PostgreSQL, so two replicas ingesting into the same bucket serialise on the row instead of one overwriting
/// the other's sketch. SQLite's single writer (`BEGIN IMMEDIATE`) serialises them already.
struct RollupStore: Sendable {
    let engine: DatabaseEngine

    static let rowsPerStatement = 200

    func apply(_ accumulator: RollupAccumulator, on sql: any SQLDatabase) async throws {
        guard !accumulator.isEmpty else { return }
        let keys = Array(accumulator.deltas.keys)
        var current = try await lockRows(keys, on: sql)
        for (key, delta) in accumulator.deltas {
            RollupAccumulator.apply(delta, to: &current[key, default: RollupCounts()])
        }
        try await write(current, on: sql)
    }

    private func lockRows(_ keys: [RollupKey], on sql: any SQLDatabase) async throws -> [RollupKey: RollupCounts] {
        var stored: [RollupKey: RollupCounts] = [:]
        let empty = HyperLogLog().serialized
        var start = 0
        while start < keys.count {
            let chunk = keys[start..<min(start + RollupStore.rowsPerStatement, keys.count)]
            start += RollupStore.rowsPerStatement
            let placeholders = sql.insert(into: "analytics_rollups").columns(RollupStore.columns)
            for key in chunk {
                placeholders.values(RollupStore.keyBinds(key) + [SQLBind(Int64(0)), SQLBind(Int64(0)), SQLBind(empty), SQLLiteral.null])
            }
            try await placeholders.ignoringConflicts(
                with: ["granularity", "event_name", "dimension", "bucket", "dim_value"]
            ).run()

            var query: SQLQueryString = """
                SELECT granularity, bucket, event_name, dimension, dim_value, event_count, error_count, users, latency \
                FROM analytics_rollups WHERE (granularity, event_name, dimension, bucket, dim_value) IN (VALUES 
                """
            for (index, key) in chunk.enumerated() {
                query += index == 0 ? "" : ", "
                query += "(\(bind: key.interval.rawValue), \(bind: key.name), \(bind: key.dimension), \(bind: key.bucket), \(bind: key.value))"
            }
            query += engine == .postgres ? ") FOR UPDATE" : ")"
            for row in try await sql.raw(query).all() {
                let (key, counts) = try RollupStore.decode(row)
                stored[key] = counts
            }
        }
        return stored
    }

    private func write(_ rows: [RollupKey: RollupCounts], on sql: any SQLDatabase) async throws {
        let entries = Array(rows)
        var start = 0
        while start < entries.count {
            let chunk = entries[start..<min(start + RollupStore.rowsPerStatement, entries.count)]
            start += RollupStore.rowsPerStatement
            let upsert = sql.insert(into: "analytics_rollups").columns(RollupStore.columns)
            for (key, counts) in chunk {
                upsert.values(RollupStore.keyBinds(key) + [
                    SQLBind(counts.count), SQLBind(counts.errors), SQLBind(counts.users.serialized),
                    counts.latency.map { SQLBind($0.serialized) as any SQLExpression } ?? SQLLiteral.null,
                ])
            }
            try await upsert.onConflict(with: ["granularity", "event_name", "dimension", "bucket", "dim_value"]) {
                $0.set(excludedValueOf: "event_count").set(excludedValueOf: "error_count")
                    .set(excludedValueOf: "users").set(excludedValueOf: "latency")
            }.run()
        }
    }

    static let columns = [
        "granularity", "event_name", "dimension", "bucket", "dim_value", "event_count", "error_count", "users",
        "latency",
    ]

    static func keyBinds(_ key: RollupKey) -> [any SQLExpression] {
        [SQLBind(key.interval.rawValue), SQLBind(key.name), SQLBind(key.dimension), SQLBind(key.bucket), SQLBind(key.value)]
    }

    struct CorruptRow: Error {}

    static func decode(_ row: any SQLRow) throws -> (RollupKey, RollupCounts) {
        guard let interval = RollupInterval(rawValue: try row.decode(column: "granularity", as: String.self)) else {
            throw CorruptRow()
        }
        let key = RollupKey(
            interval: interval, bucket: try row.decode(column: "bucket", as: Int64.self),
            name: try row.decode(column: "event_name", as: String.self),
            dimension: try row.decode(column: "dimension", as: String.self),
            value: try row.decode(column: "dim_value", as: String.self))
        var counts = RollupCounts()
        counts.count = try row.decode(column: "event_count", as: Int64.self)
        counts.errors = try row.decode(column: "error_count", as: Int64.self)
        counts.users = try HyperLogLog(serialized: try row.decode(column: "users", as: Data.self))
        if let latency = try row.decode(column: "latency", as: Data?.self) {
            counts.latency = try LatencyHistogram(serialized: latency)
        }
        return (key, counts)
    }
}
