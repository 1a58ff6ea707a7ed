import Foundation

/// A HyperLogLog sketch of distinct users (precision 14: 16,384 six-bit registers, standard error about 0.8%),
/// estimated with Ertl's improved raw estimator ("New cardinality estimation algorithms for HyperLogLog
/// sketches", 2017), which needs no empirical bias tables and stays accurate from a handful of users to billions.
///
/// Sketches merge by taking the register-wise maximum, so a week's unique users come from seven daily sketches
/// without touching raw events. Items are hashed with `StableHash`, which is the same in every process and
/// release: stored sketches must keep meaning the same thing.
struct HyperLogLog: Sendable, Equatable {
    static let precision = 14
    static let registerCount = 1 << precision
    /// Bits of the hash left after the register index; a register holds at most `remainingBits + 1`.
    static let remainingBits = 64 - precision

    private(set) var registers: [UInt8]

    init() { registers = [UInt8](repeating: 0, count: HyperLogLog.registerCount) }

    mutating func insert(_ item: String) { insert(hash: StableHash.hash(item)) }

    mutating func insert(hash: UInt64) {
        let index = Int(hash >> UInt64(HyperLogLog.remainingBits))
        // The low bits, with a sentinel so an all-zero remainder yields the maximum rank rather than 65.
        let rest = (hash << UInt64(HyperLogLog.precision)) | (1 << UInt64(HyperLogLog.precision - 1))
        let rank = UInt8(rest.leadingZeroBitCount + 1)
        if rank > registers[index] { registers[index] = rank }
    }

    mutating func merge(_ other: HyperLogLog) {
        for index in 0..<HyperLogLog.registerCount where other.registers[index] > registers[index] {
            registers[index] = other.registers[index]
        }
    }

    var isEmpty: Bool { !registers.contains { $0 != 0 } }

    /// The estimated number of distinct items inserted.
    var estimate: Int {
        let m = Double(HyperLogLog.registerCount)
        let q = HyperLogLog.remainingBits
        var histogram = [Int](repeating: 0, count: q + 2)
        for register in registers { histogram[Int(register)] += 1 }
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

extension HyperLogLog {
    private static let sparseFormat: UInt8 = 1
    private static let denseFormat: UInt8 = 2
    /// Above this many set registers the sparse form (3 bytes each) is no smaller than the dense one.
    private static let sparseLimit = registerCount / 3

    /// Serialised for a rollup row: sparse (`1, p, count:u16, (index:u16, rank:u8)…`) while few registers are
    /// set, which is most minute buckets, dense (`2, p, 16,384 registers`) beyond.
    var serialized: Data {
        var set = 0
        for register in registers where register != 0 { set += 1 }
        if set <= HyperLogLog.sparseLimit {
            var data = Data([HyperLogLog.sparseFormat, UInt8(HyperLogLog.precision), UInt8(set & 0xFF), UInt8(set >> 8)])
            data.reserveCapacity(4 + set * 3)
            for (index, register) in registers.enumerated() where register != 0 {
                data.append(contentsOf: [UInt8(index & 0xFF), UInt8(index >> 8), register])
            }
            return data
        }
        var data = Data([HyperLogLog.denseFormat, UInt8(HyperLogLog.precision)])
        data.append(contentsOf: registers)
        return data
    }

    struct CorruptSketch: Error {}

    init(serialized data: Data) throws {
        self.init()
        let bytes = [UInt8](data)
        guard bytes.count >= 2, Int(bytes[1]) == HyperLogLog.precision else { throw CorruptSketch() }
        switch bytes[0] {
        case HyperLogLog.sparseFormat:
            guard bytes.count >= 4 else { throw CorruptSketch() }
            let count = Int(bytes[2]) | Int(bytes[3]) << 8
            guard bytes.count == 4 + count * 3 else { throw CorruptSketch() }
            var offset = 4
            for _ in 0..<count {
                let index = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
                guard index < HyperLogLog.registerCount else { throw CorruptSketch() }
                registers[index] = bytes[offset + 2]
                offset += 3
            }
        case HyperLogLog.denseFormat:
            guard bytes.count == 2 + HyperLogLog.registerCount else { throw CorruptSketch() }
            registers = Array(bytes[2...])
        default:
            throw CorruptSketch()
        }
    }
}

/// A 64-bit hash that never changes between processes (Swift's `Hasher` is seeded per process): FNV-1a over
/// the UTF-8 bytes, then MurmurHash3's finaliser so that every input bit reaches every output bit, which the
/// sketch's register index and rank both rely on.
enum StableHash {
    static func hash(_ string: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in string.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        hash ^= hash >> 33
        hash &*= 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        hash &*= 0xc4ce_b9fe_1a85_ec53
        hash ^= hash >> 33
        return hash
    }
}
