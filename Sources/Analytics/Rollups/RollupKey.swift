/// One rollup row's identity: an event name's bucket of one interval, either in total (`dimension` and `value`
/// empty) or for one breakdown value.
struct RollupKey: Hashable, Sendable {
    var interval: RollupInterval
    var bucket: Int64
    var name: String
    var dimension: String
    var value: String

    static let total = ""

    /// The table's primary-key order (granularity, event name, dimension, bucket, value).
    static func primaryKeyOrder(_ lhs: RollupKey, _ rhs: RollupKey) -> Bool {
        (lhs.interval.rawValue, lhs.name, lhs.dimension, lhs.bucket, lhs.value)
            < (rhs.interval.rawValue, rhs.name, rhs.dimension, rhs.bucket, rhs.value)
    }
}

/// What one rollup row holds.
struct RollupCounts: Sendable {
    var count: Int64 = 0
    var errors: Int64 = 0
    var users = HyperLogLog()
    var latency: LatencyHistogram?
}
