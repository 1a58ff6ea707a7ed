import Foundation
import MeridianKit
import SQLKit

/// Applies a batch's rollup deltas: each touched row is read once, merged in memory (counts added, sketches
/// merged) and written once.
///
/// Concurrency: on PostgreSQL rows are created empty first (`ON CONFLICT DO NOTHING`), then read with
/// `FOR UPDATE`, so two replicas ingesting into the same bucket serialise on the row instead of one overwriting
/// the other's sketch. SQLite's single writer (`BEGIN IMMEDIATE`) serialises them already, so there the rows are
/// only read, and the final upsert creates the new ones.
struct RollupStore: Sendable {
    let engine: DatabaseEngine

    /// Rows per statement. Each statement is a round trip through the database's thread pool, and on a busy
    /// machine every hop waits for a core, so SQLite (whose build allows 250,000 parameters) takes a whole
    /// batch's rows in one or two statements; PostgreSQL's limit is 65,535 parameters.
    var rowsPerStatement: Int { engine == .sqlite ? 5000 : 200 }

    func apply(_ accumulator: RollupAccumulator, on sql: any SQLDatabase) async throws {
        guard !accumulator.isEmpty else { return }
        var keys = Array(accumulator.deltas.keys)
        // PostgreSQL: every transaction creates and locks its rows in one order (the primary key's), so two
        // replicas whose groups share rows wait for each other instead of deadlocking (a dictionary's order
        // differs from one key set to the next). SQLite's single writer needs no order.
        if engine == .postgres { keys.sort(by: RollupKey.primaryKeyOrder) }
        var current = try await lockRows(keys, on: sql)
        for (key, delta) in accumulator.deltas {
            RollupAccumulator.apply(delta, to: &current[key, default: RollupCounts()])
        }
        try await write(current, on: sql)
    }

    private func lockRows(_ keys: [RollupKey], on sql: any SQLDatabase) async throws -> [RollupKey: RollupCounts] {
        var stored: [RollupKey: RollupCounts] = [:]
        stored.reserveCapacity(keys.count)
        var start = 0
        while start < keys.count {
            let chunk = keys[start..<min(start + rowsPerStatement, keys.count)]
            start += rowsPerStatement
            if let writer = sql as? SQLiteWriter {
                let keyValues = chunk.flatMap(RollupStore.keyValues)
                for row in try await writer.query(RollupStore.joinSelect(rows: chunk.count), keyValues) {
                    let (key, counts) = try RollupStore.decode(row)
                    stored[key] = counts
                }
                continue
            }
            try await createEmptyRows(chunk, on: sql)
            for row in try await sql.raw(RollupStore.lockingSelect(chunk)).all() {
                let (key, counts) = try RollupStore.decode(row)
                stored[key] = counts
            }
        }
        return stored
    }

    private func createEmptyRows(_ chunk: ArraySlice<RollupKey>, on sql: any SQLDatabase) async throws {
        let empty = HyperLogLog().serialized
        let placeholders = sql.insert(into: "analytics_rollups").columns(RollupStore.columns)
        for key in chunk {
            placeholders.values((RollupStore.keyValues(key) + [.integer(0), .integer(0), .blob(empty), .null]).map(\.expression))
        }
        try await placeholders.ignoringConflicts(with: RollupStore.keyColumns).run()
    }

    /// PostgreSQL: the rows by their primary key, locked until the transaction ends, in the key's order.
    private static func lockingSelect(_ chunk: ArraySlice<RollupKey>) -> SQLQueryString {
        var query: SQLQueryString = """
            SELECT granularity, bucket, event_name, dimension, dim_value, event_count, error_count, users, latency \
            FROM analytics_rollups WHERE (granularity, event_name, dimension, bucket, dim_value) IN (VALUES 
            """
        for (index, key) in chunk.enumerated() {
            query += index == 0 ? "" : ", "
            query += "(\(bind: key.interval.rawValue), \(bind: key.name), \(bind: key.dimension), \(bind: key.bucket), \(bind: key.value))"
        }
        // Locked in primary-key order (PostgreSQL locks rows as the sorted result yields them), byte order for
        // the text: the order `RollupKey.primaryKeyOrder` gives the inserts, so every transaction takes its
        // locks in one global order.
        query += #") ORDER BY granularity COLLATE "C", event_name COLLATE "C", dimension COLLATE "C", bucket, dim_value COLLATE "C" FOR UPDATE"#
        return query
    }

    /// SQLite (through `SQLiteWriter`, values by position as `keyValues` lists them): the rows by their primary
    /// key, as a join of the keys with the table, columns in `columns` order. SQLite plans a row-value
    /// `IN (VALUES …)` as a scan of the whole primary-key index (one scan per statement, growing with the table);
    /// the join is one primary-key lookup per key. SQLite's single writer serialises batches already, so nothing
    /// is locked.
    static func joinSelect(rows: Int) -> String {
        "SELECT " + columns.map { "r." + $0 }.joined(separator: ", ") + " FROM ("
            + SQLiteStatements.values(rows: rows, columns: keyColumns.count)
            + ") AS k CROSS JOIN analytics_rollups AS r ON "
            + keyColumns.enumerated().map { "r.\($1) = k.column\($0 + 1)" }.joined(separator: " AND ")
    }

    /// SQLite: the upsert of `write`, through `SQLiteWriter`.
    static func upsert(rows: Int) -> String {
        "INSERT INTO analytics_rollups (\(columns.joined(separator: ", ")))"
            + SQLiteStatements.values(rows: rows, columns: columns.count)
            + " ON CONFLICT (\(keyColumns.joined(separator: ", "))) DO UPDATE SET "
            + countColumns.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
    }

    private func write(_ rows: [RollupKey: RollupCounts], on sql: any SQLDatabase) async throws {
        // In any order: on PostgreSQL `lockRows` has already created and locked every row written here.
        let entries = Array(rows)
        var start = 0
        while start < entries.count {
            let chunk = entries[start..<min(start + rowsPerStatement, entries.count)]
            start += rowsPerStatement
            if let writer = sql as? SQLiteWriter {
                var values: [SQLValue] = []
                values.reserveCapacity(chunk.count * RollupStore.columns.count)
                for (key, counts) in chunk { values += RollupStore.values(key, counts) }
                _ = try await writer.query(RollupStore.upsert(rows: chunk.count), values)
                continue
            }
            let upsert = sql.insert(into: "analytics_rollups").columns(RollupStore.columns)
            for (key, counts) in chunk { upsert.values(RollupStore.values(key, counts).map(\.expression)) }
            try await upsert.onConflict(with: RollupStore.keyColumns) { update in
                RollupStore.countColumns.reduce(update) { $0.set(excludedValueOf: $1) }
            }.run()
        }
    }

    /// The primary key, in `keyValues` order.
    static let keyColumns = ["granularity", "event_name", "dimension", "bucket", "dim_value"]
    /// What an upsert replaces.
    static let countColumns = ["event_count", "error_count", "users", "latency"]
    static let columns = keyColumns + countColumns

    static func keyValues(_ key: RollupKey) -> [SQLValue] {
        [.text(key.interval.rawValue), .text(key.name), .text(key.dimension), .integer(key.bucket), .text(key.value)]
    }

    /// A row's values, in `columns` order.
    static func values(_ key: RollupKey, _ counts: RollupCounts) -> [SQLValue] {
        keyValues(key) + [
            .integer(counts.count), .integer(counts.errors), .blob(counts.users.serialized),
            counts.latency.map { .blob($0.serialized) } ?? .null,
        ]
    }

    struct CorruptRow: Error {}

    static func decode(_ row: any SQLRow) throws -> (RollupKey, RollupCounts) {
        try make(
            granularity: try row.decode(column: "granularity", as: String.self),
            name: try row.decode(column: "event_name", as: String.self),
            dimension: try row.decode(column: "dimension", as: String.self),
            bucket: try row.decode(column: "bucket", as: Int64.self),
            value: try row.decode(column: "dim_value", as: String.self),
            count: try row.decode(column: "event_count", as: Int64.self),
            errors: try row.decode(column: "error_count", as: Int64.self),
            users: try row.decode(column: "users", as: Data.self),
            latency: try row.decode(column: "latency", as: Data?.self))
    }

    /// A row of `joinSelect`: its values in `columns` order.
    static func decode(_ row: [SQLValue]) throws -> (RollupKey, RollupCounts) {
        guard row.count == columns.count else { throw CorruptRow() }
        return try make(
            granularity: try row[0].text(), name: try row[1].text(), dimension: try row[2].text(),
            bucket: try row[3].integer(), value: try row[4].text(), count: try row[5].integer(),
            errors: try row[6].integer(), users: try row[7].blob(), latency: try row[8].optionalBlob())
    }

    private static func make(
        granularity: String, name: String, dimension: String, bucket: Int64, value: String, count: Int64,
        errors: Int64, users: Data, latency: Data?
    ) throws -> (RollupKey, RollupCounts) {
        guard let interval = RollupInterval(rawValue: granularity) else { throw CorruptRow() }
        let key = RollupKey(interval: interval, bucket: bucket, name: name, dimension: dimension, value: value)
        var counts = RollupCounts(count: count, errors: errors, users: try HyperLogLog(serialized: users))
        if let latency { counts.latency = try LatencyHistogram(serialized: latency) }
        return (key, counts)
    }
}
