import Foundation
import MeridianKit
import SQLKit

/// Reads rollup rows for the query API. Every query names the leading primary-key columns (interval, event
/// name, dimension) and a bucket range, so it is an index range scan however many raw events there are.
struct RollupQueries: Sendable {
    let database: any Database

    /// Rows of one event name and dimension, in `[first, last]` bucket starts of `interval`.
    func rows(
        interval: RollupInterval, name: String, dimension: String, first: Int64, last: Int64
    ) async throws -> [(RollupKey, RollupCounts)] {
        try await database.read { sql in
            try await sql.select()
                .columns(
                    "granularity", "bucket", "event_name", "dimension", "dim_value", "event_count", "error_count", "users",
                    "latency"
                )
                .from("analytics_rollups")
                .where("granularity", .equal, interval.rawValue).where("event_name", .equal, name)
                .where("dimension", .equal, dimension)
                .where("bucket", .greaterThanOrEqual, first).where("bucket", .lessThanOrEqual, last)
                .where("event_count", .greaterThan, Int64(0))
                .orderBy("bucket")
                .all().map(RollupStore.decode)
        }
    }

    /// Rows covering `[from, to)` exactly (see `TimeCover`), merged per breakdown value.
    func merged(name: String, dimension: String, from: Int64, to: Int64) async throws -> [String: RollupCounts] {
        var merged: [String: RollupCounts] = [:]
        for range in TimeCover(from: from, to: to).ranges {
            for (key, counts) in try await rows(
                interval: range.interval, name: name, dimension: dimension, first: range.first, last: range.last)
            {
                merged[key.value, default: RollupCounts()].add(counts)
            }
        }
        return merged
    }
}

extension RollupCounts {
    mutating func add(_ other: RollupCounts) {
        count += other.count
        errors += other.errors
        users.merge(other.users)
        if let other = other.latency {
            var latency = self.latency ?? LatencyHistogram()
            latency.merge(other)
            self.latency = latency
        }
    }
}
