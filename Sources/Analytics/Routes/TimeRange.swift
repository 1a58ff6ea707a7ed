import Foundation
import MeridianKit

/// `from` and `to` query parameters (RFC 3339), defaulting to the `defaultSpan` before now, aligned outwards to
/// `interval` buckets so every bucket in the range is whole.
struct TimeRange: Sendable {
    var from: Int64
    var to: Int64

    static func read(
        _ query: inout QueryReader, interval: RollupInterval, defaultSpan: TimeInterval, maxSpan: TimeInterval
    ) -> TimeRange? {
        let now = Date()
        let to = query.time("to") ?? now
        let from = query.time("from") ?? to.addingTimeInterval(-defaultSpan)
        guard from < to else {
            query.fail("from", "must be before to")
            return nil
        }
        guard to.timeIntervalSince(from) <= maxSpan else {
            query.fail("to", "must be at most \(Int(maxSpan / 86_400)) days after from")
            return nil
        }
        let start = interval.bucket(Timestamp.micros(from))
        let endBucket = interval.bucket(Timestamp.micros(to))
        let end = endBucket == Timestamp.micros(to) ? endBucket : endBucket + interval.micros
        return TimeRange(from: start, to: end)
    }
}
