import Foundation

/// A HyperLogLog sketch of distinct users (precision 14: 16,384 six-bit registers, standard error about 0.8%),
/// estimated with Ertl's improved raw estimator ("New cardinality estimation algorithms for HyperLogLog
/// sketches", 2017), which needs no empirical bias tables and stays accurate from a handful of users to billions.
///
/// Sketches merge by taking the register-wise maximum, so a week's unique users come from seven daily sketches
/// without touching raw events. Items are hashed with `StableHash`, which is the same in every process and
/// release: stored sketches must keep meaning the same thing.
///
/// In memory a sketch is sparse (only its set registers) until `sparseLimit` registers are set, then dense (all
/// 16,384). Most rollup rows are minute and hour buckets holding a handful of users; ingestion reads, updates
/// and writes thousands of them per batch, and a dense array each would cost 16 KiB to allocate and scan for a
/// few set registers. The representation never shows: equality, merging, the estimate and the stored bytes
/// depend only on the registers' values.
struct HyperLogLog: Sendable {
    static let precision = 14
    static let registerCount = 1 << precision
    /// Bits of the hash left after the register index; a register holds at most `remainingBits + 1`.
    static let remainingBits = 64 - precision
    static let maxRank = UInt8(remainingBits + 1)
    /// Set registers beyond which the sketch turns dense: 4 bytes an entry, so past a quarter of the registers the
    /// sparse form is the larger one.
    static let sparseLimit = registerCount / 4

    /// While sparse: the set registers as `index << 8 | rank`, ascending by index, none with rank 0.
    private(set) var sparse: [UInt32] = []
    /// Once dense: every register (`registerCount` of them); empty while sparse.
    private(set) var dense: [UInt8] = []

    init() {}

    var isDense: Bool { !dense.isEmpty }

    /// Every register's rank, 0 for registers never set.
    var registers: [UInt8] {
        if isDense { return dense }
        var registers = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
        for entry in sparse { registers[Int(entry >> 8)] = UInt8(truncatingIfNeeded: entry) }
        return registers
    }

    /// How many registers are set.
    var setRegisterCount: Int {
        if !isDense { return sparse.count }
        var count = 0
        for register in dense where register != 0 { count += 1 }
        return count
    }

    mutating func insert(_ item: String) { insert(hash: StableHash.hash(item)) }

    mutating func insert(hash: UInt64) {
        let index = Int(hash >> UInt64(HyperLogLog.remainingBits))
        // The low bits, with a sentinel so an all-zero remainder yields the maximum rank rather than 65.
        let rest = (hash << UInt64(HyperLogLog.precision)) | (1 << UInt64(HyperLogLog.precision - 1))
        raise(index, to: UInt8(rest.leadingZeroBitCount + 1))
    }

    /// Sets register `index` to `rank` when that is higher than what it holds.
    mutating func raise(_ index: Int, to rank: UInt8) {
        guard rank > 0 else { return }
        if isDense {
            if rank > dense[index] { dense[index] = rank }
            return
        }
        let position = sparsePosition(of: index)
        if position < sparse.count, Int(sparse[position] >> 8) == index {
            if rank > UInt8(truncatingIfNeeded: sparse[position]) { sparse[position] = UInt32(index) << 8 | UInt32(rank) }
            return
        }
        sparse.insert(UInt32(index) << 8 | UInt32(rank), at: position)
        if sparse.count > HyperLogLog.sparseLimit { makeDense() }
    }

    /// Where register `index` is, or would be inserted, in `sparse`.
    private func sparsePosition(of index: Int) -> Int {
        var low = 0
        var high = sparse.count
        while low < high {
            let middle = (low + high) / 2
            if Int(sparse[middle] >> 8) < index { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Takes `entries` (ascending by index, each index once, no rank 0) as the registers.
    mutating func replaceSparse(_ entries: [UInt32]) {
        sparse = entries
        dense = []
        if sparse.count > HyperLogLog.sparseLimit { makeDense() }
    }

    /// Takes `registers` (all `registerCount` of them) as the registers, in whichever form suits their number.
    mutating func replaceRegisters(_ registers: [UInt8]) {
        var set: [UInt32] = []
        for (index, rank) in registers.enumerated() where rank != 0 {
            guard set.count < HyperLogLog.sparseLimit else {
                dense = registers
                sparse = []
                return
            }
            set.append(UInt32(index) << 8 | UInt32(rank))
        }
        replaceSparse(set)
    }

    /// Switches to the dense form (merging does so when it must; tests compare the two forms).
    mutating func makeDense() {
        guard !isDense else { return }
        dense = registers
        sparse = []
    }

    mutating func merge(_ other: HyperLogLog) {
        if !isDense, !other.isDense {
            mergeSparse(other.sparse)
            return
        }
        if !isDense { makeDense() }
        if other.isDense {
            for index in 0..<HyperLogLog.registerCount where other.dense[index] > dense[index] {
                dense[index] = other.dense[index]
            }
        } else {
            for entry in other.sparse {
                let index = Int(entry >> 8)
                let rank = UInt8(truncatingIfNeeded: entry)
                if rank > dense[index] { dense[index] = rank }
            }
        }
    }

    /// Both sparse: one pass over the two ascending lists.
    private mutating func mergeSparse(_ other: [UInt32]) {
        guard !other.isEmpty else { return }
        guard !sparse.isEmpty else {
            sparse = other
            return
        }
        var merged: [UInt32] = []
        merged.reserveCapacity(sparse.count + other.count)
        var left = 0
        var right = 0
        while left < sparse.count, right < other.count {
            let mine = sparse[left] >> 8
            let theirs = other[right] >> 8
            if mine < theirs {
                merged.append(sparse[left])
                left += 1
            } else if theirs < mine {
                merged.append(other[right])
                right += 1
            } else {
                // Same register: the entry with the higher rank (the rank is the low byte, the index is equal).
                merged.append(max(sparse[left], other[right]))
                left += 1
                right += 1
            }
        }
        merged.append(contentsOf: sparse[left...])
        merged.append(contentsOf: other[right...])
        sparse = merged
        if sparse.count > HyperLogLog.sparseLimit { makeDense() }
    }

    var isEmpty: Bool { isDense ? !dense.contains { $0 != 0 } : sparse.isEmpty }

    /// The estimated number of distinct items inserted.
    var estimate: Int {
        let m = Double(HyperLogLog.registerCount)
        let q = HyperLogLog.remainingBits
        var histogram = [Int](repeating: 0, count: q + 2)
        if isDense {
            for register in dense { histogram[Int(register)] += 1 }
        } else {
            histogram[0] = HyperLogLog.registerCount - sparse.count
            for entry in sparse { histogram[Int(UInt8(truncatingIfNeeded: entry))] += 1 }
        }
        if histogram[0] == HyperLogLog.registerCount { return 0 }
        var z = m * HyperLogLog.tau(1 - Double(histogram[q + 1]) / m)
        for k in stride(from: q, through: 1, by: -1) { z = 0.5 * (z + Double(histogram[k])) }
        z += m * HyperLogLog.sigma(Double(histogram[0]) / m)
        let alphaInfinity = 1 / (2 * log(2.0))
        return Int((alphaInfinity * m * m / z).rounded())
    }

    private static func sigma(_ x: Double) -> Double {
        guard x < 1 else { return .infinity }
        var x = x
        var y = 1.0
        var z = x
        while true {
            x *= x
            let next = z + x * y
            y += y
            if next == z { return z }
            z = next
        }
    }

    private static func tau(_ x: Double) -> Double {
        guard x > 0, x < 1 else { return 0 }
        var x = x
        var y = 1.0
        var z = 1 - x
        while true {
            x = x.squareRoot()
            y *= 0.5
            let next = z - (1 - x) * (1 - x) * y
            if next == z { return z / 3 }
            z = next
        }
    }
}

extension HyperLogLog: Equatable {
    /// Equal registers, whichever form each sketch is in.
    static func == (lhs: HyperLogLog, rhs: HyperLogLog) -> Bool {
        if !lhs.isDense, !rhs.isDense { return lhs.sparse == rhs.sparse }
        return lhs.registers == rhs.registers
    }
}
