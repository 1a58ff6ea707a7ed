import Foundation
import Testing

@testable import Analytics

@Suite struct HyperLogLogTests {
    /// The bound: under 2% error at 100,000 distinct users (the standard error at p=14 is about 0.8%).
    @Test func errorUnderTwoPercentAtOneHundredThousand() {
        var sketch = HyperLogLog()
        for index in 0..<100_000 { sketch.insert("usr_\(index)") }
        let error = abs(Double(sketch.estimate) - 100_000) / 100_000
        #expect(error < 0.02, "estimate \(sketch.estimate)")
    }

    /// Repeats do not count: the same users inserted again leave the estimate unchanged.
    @Test func duplicatesDoNotCount() {
        var sketch = HyperLogLog()
        for index in 0..<5000 { sketch.insert("usr_\(index)") }
        let once = sketch.estimate
        for index in 0..<5000 { sketch.insert("usr_\(index)") }
        #expect(sketch.estimate == once)
    }

    /// Small counts are what most buckets hold; the estimator is within one up to 100, within 2% beyond.
    @Test(arguments: [0, 1, 2, 10, 100, 1000])
    func smallCountsAreNearlyExact(_ count: Int) {
        var sketch = HyperLogLog()
        for index in 0..<count { sketch.insert("anon-\(index)") }
        #expect(abs(sketch.estimate - count) <= max(1, count / 50), "estimate \(sketch.estimate) for \(count)")
    }

    /// Merging daily sketches gives the week's sketch: the union's registers exactly.
    @Test func mergeEqualsTheSketchOfTheUnion() {
        var monday = HyperLogLog()
        var tuesday = HyperLogLog()
        var both = HyperLogLog()
        for index in 0..<30_000 {
            let user = "usr_\(index)"
            if index % 3 != 0 { monday.insert(user) }
            if index % 2 == 0 { tuesday.insert(user) }
            if index % 3 != 0 || index % 2 == 0 { both.insert(user) }
        }
        monday.merge(tuesday)
        #expect(monday == both)
        #expect(abs(Double(monday.estimate) - 25_000) / 25_000 < 0.02)
    }

    @Test(arguments: [0, 3, 500, 50_000])
    func serialisationRoundTrips(_ count: Int) throws {
        var sketch = HyperLogLog()
        for index in 0..<count { sketch.insert("u\(index)") }
        let data = sketch.serialized
        #expect(try HyperLogLog(serialized: data) == sketch)
        // Few users: the sparse form, three bytes a register; many: the dense 16 KiB form.
        #expect(data.count == (count < 4000 ? 4 + 3 * sketch.registers.count { $0 != 0 } : 2 + HyperLogLog.registerCount))
    }

    @Test func corruptSketchesAreRefused() {
        for bytes: [UInt8] in [[], [1], [1, 14, 2, 0, 1], [2, 14, 0], [9, 14], [1, 12, 0, 0]] {
            #expect(throws: HyperLogLog.CorruptSketch.self) { try HyperLogLog(serialized: Data(bytes)) }
        }
    }

    /// Stored sketches must mean the same in every process: the hash is fixed, not seeded per run.
    @Test func theHashIsStable() {
        // Values computed independently (FNV-1a 64 then MurmurHash3's fmix64); a change here orphans every stored sketch.
        #expect(StableHash.hash("") == 0xefd0_1f60_ba99_2926)
        #expect(StableHash.hash("usr_1") == 0x3405_4a4b_d662_19f1)
        #expect(StableHash.hash("usr_1") != StableHash.hash("usr_2"))
    }
}

@Suite struct LatencyHistogramTests {
    /// 1…10,000 µs uniformly: the percentiles are the values themselves, within the two significant digits.
    @Test func percentilesOfAUniformDistribution() {
        var histogram = LatencyHistogram()
        for value in 1...10_000 { histogram.record(micros: UInt64(value)) }
        for (percentile, expected) in [(50.0, 5000.0), (95.0, 9500.0), (99.0, 9900.0)] {
            let value = Double(histogram.percentile(percentile))
            #expect(abs(value - expected) / expected < 0.01, "p\(percentile) = \(value)")
        }
        #expect(histogram.count == 10_000)
    }

    /// Merging per-bucket histograms gives the percentiles of all the requests together.
    @Test func mergedBucketsGiveTheCombinedDistribution() throws {
        var fast = LatencyHistogram()
        var slow = LatencyHistogram()
        var all = LatencyHistogram()
        for value in 1...900 {
            fast.record(micros: UInt64(value))
            all.record(micros: UInt64(value))
        }
        for value in 1...100 {
            slow.record(micros: UInt64(100_000 + value))
            all.record(micros: UInt64(100_000 + value))
        }
        // Through storage, as the query path does.
        var merged = try LatencyHistogram(serialized: fast.serialized)
        merged.merge(try LatencyHistogram(serialized: slow.serialized))
        for percentile in [50.0, 90.0, 95.0, 99.0] {
            #expect(merged.percentile(percentile) == all.percentile(percentile))
        }
        #expect(merged.percentile(50) < 1000)
        #expect(merged.percentile(95) > 100_000)
    }

    @Test func emptyAndOutOfRange() throws {
        var histogram = LatencyHistogram()
        #expect(histogram.percentile(99) == 0)
        histogram.record(micros: 0)
        histogram.record(micros: UInt64.max)
        #expect(histogram.count == 2)
        #expect(try LatencyHistogram(serialized: histogram.serialized).count == 2)
        #expect(throws: LatencyHistogram.CorruptHistogram.self) { try LatencyHistogram(serialized: Data([1, 5, 1])) }
    }
}
