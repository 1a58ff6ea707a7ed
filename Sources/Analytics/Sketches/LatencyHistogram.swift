import Foundation
import Histogram

/// The latency distribution of one rollup bucket: an HDR histogram (hdrhistogram-swift) of microseconds with two
/// significant digits (every percentile within 1%), from 1 µs to one hour; slower requests count as one hour.
///
/// Stored sparsely, as the recorded (value, count) pairs in LEB128 varints: a bucket with a few dozen
/// distinct latencies takes a few hundred bytes rather than the histogram's full 26 KB count array.
struct LatencyHistogram: Sendable {
    static let highestTrackable: UInt64 = 3_600_000_000

    private(set) var histogram: Histogram<UInt64>

    init() {
        histogram = Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: LatencyHistogram.highestTrackable,
            numberOfSignificantValueDigits: .two)
    }

    mutating func record(micros: UInt64, count: UInt64 = 1) {
        histogram.record(min(max(micros, 1), LatencyHistogram.highestTrackable), count: count)
    }

    mutating func merge(_ other: LatencyHistogram) { histogram.add(other.histogram) }

    var count: UInt64 { histogram.totalCount }

    /// The latency at `percentile` (0–100) in microseconds; 0 for an empty histogram.
    func percentile(_ percentile: Double) -> UInt64 {
        count == 0 ? 0 : histogram.valueAtPercentile(percentile)
    }

    private static let format: UInt8 = 1

    var serialized: Data {
        var bytes: [UInt8] = [LatencyHistogram.format]
        var pairs: [(UInt64, UInt64)] = []
        // Each bucket is written as its highest equivalent value, except the top one, written as the exact
        // maximum: percentiles are clamped to the maximum recorded, so it must survive the round trip.
        let maximum = histogram.maxRecorded
        for recorded in histogram.recordedValues() {
            pairs.append((min(recorded.value, maximum), UInt64(recorded.count)))
        }
        Varint.append(UInt64(pairs.count), to: &bytes)
        for (value, count) in pairs {
            Varint.append(value, to: &bytes)
            Varint.append(count, to: &bytes)
        }
        return Data(bytes)
    }

    struct CorruptHistogram: Error {}

    init(serialized data: Data) throws {
        self.init()
        let bytes = [UInt8](data)
        guard bytes.first == LatencyHistogram.format else { throw CorruptHistogram() }
        var offset = 1
        guard let pairs = Varint.read(bytes, at: &offset), pairs <= UInt64(bytes.count) else {
            throw CorruptHistogram()
        }
        for _ in 0..<pairs {
            guard let value = Varint.read(bytes, at: &offset), let count = Varint.read(bytes, at: &offset) else {
                throw CorruptHistogram()
            }
            record(micros: value, count: count)
        }
        guard offset == bytes.count else { throw CorruptHistogram() }
    }
}

/// Unsigned LEB128.
enum Varint {
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    static func read(_ bytes: [UInt8], at offset: inout Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count, shift < 64 {
            let byte = bytes[offset]
            offset += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }
}
