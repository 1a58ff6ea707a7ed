/// The granularities rollups are kept at. Every accepted event updates one bucket of each.
enum RollupInterval: String, CaseIterable, Sendable, Comparable {
    case minute, hour, day

    var micros: Int64 {
        switch self {
        case .minute: 60_000_000
        case .hour: 3_600_000_000
        case .day: 86_400_000_000
        }
    }

    /// The start of the bucket holding `time` (microseconds since the epoch, UTC), rounding down for times
    /// before 1970 as well.
    func bucket(_ time: Int64) -> Int64 {
        let remainder = time % micros
        return remainder >= 0 ? time - remainder : time - remainder - micros
    }

    static func < (lhs: RollupInterval, rhs: RollupInterval) -> Bool { lhs.micros < rhs.micros }
}

/// The fewest rollup buckets that exactly cover `[from, to)` (both on minute boundaries): whole days in the
/// middle, whole hours at the edges, minutes at the ragged ends. A month is then about 30 day rows plus at most
/// 46 hour and 118 minute rows per series, instead of 43,200 minute rows.
struct TimeCover: Equatable {
    /// Bucket starts per interval, each range inclusive of its first and last bucket start.
    var ranges: [(interval: RollupInterval, first: Int64, last: Int64)]

    static func == (lhs: TimeCover, rhs: TimeCover) -> Bool {
        lhs.ranges.elementsEqual(rhs.ranges) { $0.interval == $1.interval && $0.first == $1.first && $0.last == $1.last }
    }

    init(from: Int64, to: Int64) {
        ranges = []
        guard from < to else { return }
        cover(from, to, levels: [.day, .hour, .minute])
    }

    private mutating func cover(_ from: Int64, _ to: Int64, levels: [RollupInterval]) {
        guard from < to, let level = levels.first else { return }
        let finer = Array(levels.dropFirst())
        if finer.isEmpty {
            ranges.append((level, from, to - level.micros))
            return
        }
        // The whole `level` buckets inside the range.
        let firstWhole = level.bucket(from) == from ? from : level.bucket(from) + level.micros
        let endWhole = level.bucket(to)
        guard firstWhole < endWhole else {
            cover(from, to, levels: finer)
            return
        }
        cover(from, firstWhole, levels: finer)
        ranges.append((level, firstWhole, endWhole - level.micros))
        cover(endWhole, to, levels: finer)
    }
}
