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
        let to = time(&query, "to") ?? now
        let from = time(&query, "from") ?? to.addingTimeInterval(-defaultSpan)
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

    private static func time(_ query: inout QueryReader, _ name: String) -> Date? {
        guard let text = query.raw(name) else { return nil }
        // A numeric offset sent unencoded (`+01:00`) arrives as a space once `+` is read form-style; an RFC 3339
        // time has no space, so the plus is put back.
        guard let date = Timestamp.parse(text) ?? Timestamp.parse(text.replacingOccurrences(of: " ", with: "+")) else {
            query.fail(name, "must be an RFC 3339 time")
            return nil
        }
        return date
    }
}
