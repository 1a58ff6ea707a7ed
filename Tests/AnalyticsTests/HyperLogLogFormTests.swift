import Foundation
import Testing

@testable import Analytics

/// The sketch is sparse in memory while few registers are set and dense beyond: the two forms must be
/// indistinguishable (same registers, equality, estimate, stored bytes, merges).
@Suite struct HyperLogLogFormTests {
    /// The registers as the algorithm defines them, computed without the sketch: index from the top 14 bits of
    /// the hash, rank from the leading zeros of the rest.
    static func plainRegisters(_ items: some Sequence<String>) -> [UInt8] {
        var registers = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
        for item in items {
            let hash = StableHash.hash(item)
            let index = Int(hash >> 50)
            var rank: UInt8 = 1
            var bit = 49
            while bit >= 0, hash & (1 << UInt64(bit)) == 0 {
                rank += 1
                bit -= 1
            }
            registers[index] = max(registers[index], rank)
        }
        return registers
    }

    static func sketch(_ items: some Sequence<String>) -> HyperLogLog {
        var sketch = HyperLogLog()
        for item in items { sketch.insert(item) }
        return sketch
    }

    /// Inserting gives exactly the plain registers, sparse up to `sparseLimit` set registers and dense beyond.
    @Test(arguments: [0, 1, 50, 4000, 4500, 6000, 30_000])
    func insertionsGiveThePlainRegisters(_ count: Int) {
        let users = (0..<count).map { "usr_\($0)" }
        let sketch = HyperLogLogFormTests.sketch(users)
        let plain = HyperLogLogFormTests.plainRegisters(users)
        #expect(sketch.registers == plain)
        let set = plain.count { $0 != 0 }
        #expect(sketch.setRegisterCount == set)
        #expect(sketch.isDense == (set > HyperLogLog.sparseLimit))
    }

    /// The same registers in either form: equal, same estimate, same bytes stored, same emptiness.
    @Test(arguments: [0, 1, 7, 300, 3000, 4096])
    func sparseAndDenseFormsAgree(_ count: Int) throws {
        let sparse = HyperLogLogFormTests.sketch((0..<count).map { "anon-\($0)" })
        var dense = sparse
        dense.makeDense()
        #expect(!sparse.isDense && dense.isDense)
        #expect(sparse == dense && dense == sparse)
        #expect(sparse.registers == dense.registers)
        #expect(sparse.estimate == dense.estimate)
        #expect(sparse.serialized == dense.serialized)
        #expect(sparse.isEmpty == dense.isEmpty)
        #expect(sparse.isEmpty == (count == 0))
        #expect(try HyperLogLog(serialized: dense.serialized) == sparse)
        // One more user that sets a register: no longer equal, in either form.
        var other = sparse
        var extra = 0
        while other.registers == sparse.registers {
            other.insert("someone-else-\(extra)")
            extra += 1
        }
        var otherDense = other
        otherDense.makeDense()
        #expect(other != sparse && other != dense && otherDense != dense && otherDense != sparse)
    }

    /// Merging equals the register-wise maximum whatever the forms, including a sparse merge that crosses into
    /// the dense form.
    @Test func mergesAgreeAcrossForms() {
        let small = (0..<3500).map { "a\($0)" }
        let large = (0..<20_000).map { "b\($0)" }
        let crossing = (2000..<5500).map { "a\($0)" }
        let cases: [([String], [String])] = [(small, large), (large, small), (small, crossing), (crossing, small), (large, large), (small, [])]
        for (left, right) in cases {
            var merged = HyperLogLogFormTests.sketch(left)
            merged.merge(HyperLogLogFormTests.sketch(right))
            let plain = zip(HyperLogLogFormTests.plainRegisters(left), HyperLogLogFormTests.plainRegisters(right)).map(max)
            #expect(merged.registers == plain, "\(left.count) with \(right.count)")
            #expect(merged == HyperLogLogFormTests.sketch(left + right))
            #expect(merged.isDense == (plain.count { $0 != 0 } > HyperLogLog.sparseLimit))
        }
        // small ∪ crossing: each of 3500 users stays sparse (about 3150 registers); their 5500 together set more
        // than `sparseLimit`, so the sparse merge itself turns dense.
        #expect(!HyperLogLogFormTests.sketch(small).isDense && !HyperLogLogFormTests.sketch(crossing).isDense)
        var union = HyperLogLogFormTests.sketch(small)
        union.merge(HyperLogLogFormTests.sketch(crossing))
        #expect(union.isDense)
    }

    /// Between the in-memory limit (a quarter of the registers) and the stored one (a third), a sketch is dense
    /// in memory and sparse on disk; read back it equals what was written.
    @Test func denseInMemorySparseStored() throws {
        let sketch = HyperLogLogFormTests.sketch((0..<5000).map { "u\($0)" })
        let set = sketch.setRegisterCount
        #expect(set > HyperLogLog.sparseLimit && set <= HyperLogLog.storedSparseLimit)
        #expect(sketch.isDense)
        let data = sketch.serialized
        #expect(data.first == 1 && data.count == 4 + 3 * set)
        #expect(try HyperLogLog(serialized: data) == sketch)
    }

    /// Sparse bytes out of index order (never written by `serialized`) are still read, the last entry of a
    /// repeated index winning; a rank no 64-bit hash can give is refused rather than trapping the estimator.
    @Test func unusualStoredSketches() throws {
        let unordered = try HyperLogLog(serialized: Data([1, 14, 3, 0, 9, 0, 4, 2, 0, 7, 9, 0, 2]))
        var expected = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
        expected[2] = 7
        expected[9] = 2
        #expect(unordered.registers == expected)
        #expect(unordered.estimate == 2)
        #expect(throws: HyperLogLog.CorruptSketch.self) { try HyperLogLog(serialized: Data([1, 14, 1, 0, 5, 0, 52])) }
        var dense = [UInt8](repeating: 0, count: HyperLogLog.registerCount + 2)
        dense[0] = 2
        dense[1] = 14
        dense[100] = 200
        #expect(throws: HyperLogLog.CorruptSketch.self) { try HyperLogLog(serialized: Data(dense)) }
    }
}
