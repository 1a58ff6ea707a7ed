/// One rollup row's identity: an event name's bucket of one interval, either in total (`dimension` and `value`
/// empty) or for one breakdown value.
struct RollupKey: Hashable, Sendable {
    var interval: RollupInterval
    var bucket: Int64
    var name: String
    var dimension: String
    var value: String

    static let total = ""

    /// The table's primary-key order (granularity, event name, dimension, bucket, value), text by its UTF-8
    /// bytes: PostgreSQL's `COLLATE "C"` order, which Swift's `<` (canonical equivalence) can differ from.
    static func primaryKeyOrder(_ lhs: RollupKey, _ rhs: RollupKey) -> Bool {
        if let order = byteOrder(lhs.interval.rawValue, rhs.interval.rawValue) ?? byteOrder(lhs.name, rhs.name)
            ?? byteOrder(lhs.dimension, rhs.dimension)
        {
            return order
        }
        if lhs.bucket != rhs.bucket { return lhs.bucket < rhs.bucket }
        return byteOrder(lhs.value, rhs.value) ?? false
    }

    /// Whether `lhs` sorts before `rhs` by their UTF-8 bytes; nil when the bytes are the same.
    private static func byteOrder(_ lhs: String, _ rhs: String) -> Bool? {
        lhs.utf8.elementsEqual(rhs.utf8) ? nil : lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }
}

/// What one rollup row holds.
struct RollupCounts: Sendable {
    var count: Int64 = 0
    var errors: Int64 = 0
    var users = HyperLogLog()
    var latency: LatencyHistogram?
}
