/// A batch's contribution to the rollups, gathered in memory so that each touched row is read and written once
/// per batch however many of the batch's events fall into it.
///
/// Users are kept as their hashes and latencies as raw values: a batch touches many rows, and a full sketch or
/// histogram per row would cost more to allocate than the handful of events each row receives.
struct RollupAccumulator {
    struct Delta {
        var count: Int64 = 0
        var errors: Int64 = 0
        var userHashes: [UInt64] = []
        var latencies: [UInt64] = []

        mutating func add(userHash: UInt64, latency: UInt64?, isError: Bool) {
            count += 1
            if isError { errors += 1 }
            userHashes.append(userHash)
            if let latency { latencies.append(latency) }
        }
    }

    private(set) var deltas: [RollupKey: Delta] = [:]

    var isEmpty: Bool { deltas.isEmpty }

    mutating func add(_ event: AnalyticsEvent) {
        let userHash = StableHash.hash(event.distinctID)
        for interval in RollupInterval.allCases {
            let bucket = interval.bucket(event.occurredAt)
            add(event, userHash, RollupKey(
                interval: interval, bucket: bucket, name: event.name, dimension: RollupKey.total, value: RollupKey.total))
            for (dimension, value) in event.dimensions {
                add(event, userHash, RollupKey(
                    interval: interval, bucket: bucket, name: event.name, dimension: dimension, value: value))
            }
        }
    }

    private mutating func add(_ event: AnalyticsEvent, _ userHash: UInt64, _ key: RollupKey) {
        // One lookup: the default subscript modifies the stored delta in place.
        deltas[key, default: Delta()].add(userHash: userHash, latency: event.latencyMicros, isError: event.isError)
    }

    /// `delta` applied to the row's stored state.
    static func apply(_ delta: Delta, to counts: inout RollupCounts) {
        counts.count += delta.count
        counts.errors += delta.errors
        for hash in delta.userHashes { counts.users.insert(hash: hash) }
        if !delta.latencies.isEmpty {
            var latency = counts.latency ?? LatencyHistogram()
            for value in delta.latencies { latency.record(micros: value) }
            counts.latency = latency
        }
    }
}
