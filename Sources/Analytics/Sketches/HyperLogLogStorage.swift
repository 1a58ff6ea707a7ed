import Foundation

/// How a sketch is stored in a rollup row: sparse (`1, p, count:u16, (index:u16, rank:u8)…`, ascending by index)
/// while at most a third of the registers are set, which is most minute and hour buckets, dense
/// (`2, p, 16,384 registers`) beyond. The bytes depend only on the registers, not on the in-memory form.
extension HyperLogLog {
    private static let sparseFormat: UInt8 = 1
    private static let denseFormat: UInt8 = 2
    /// Above this many set registers the stored sparse form (3 bytes each) is no smaller than the dense one.
    static let storedSparseLimit = registerCount / 3

    var serialized: Data {
        let set = setRegisterCount
        guard set <= HyperLogLog.storedSparseLimit else {
            var data = Data(capacity: 2 + HyperLogLog.registerCount)
            data.append(contentsOf: [HyperLogLog.denseFormat, UInt8(HyperLogLog.precision)])
            data.append(contentsOf: registers)
            return data
        }
        var bytes = [UInt8](repeating: 0, count: 4 + set * 3)
        bytes[0] = HyperLogLog.sparseFormat
        bytes[1] = UInt8(HyperLogLog.precision)
        bytes[2] = UInt8(set & 0xFF)
        bytes[3] = UInt8(set >> 8)
        var offset = 4
        func write(_ index: Int, _ rank: UInt8) {
            bytes[offset] = UInt8(index & 0xFF)
            bytes[offset + 1] = UInt8(index >> 8)
            bytes[offset + 2] = rank
            offset += 3
        }
        if isDense {
            for (index, register) in dense.enumerated() where register != 0 { write(index, register) }
        } else {
            for entry in sparse { write(Int(entry >> 8), UInt8(truncatingIfNeeded: entry)) }
        }
        return Data(bytes)
    }

    struct CorruptSketch: Error {}

    /// Reads either form. A rank above what a 64-bit hash can produce is refused: no sketch written by
    /// `serialized` holds one, and the estimator has no place for it.
    init(serialized data: Data) throws {
        self.init()
        let bytes = [UInt8](data)
        guard bytes.count >= 2, Int(bytes[1]) == HyperLogLog.precision else { throw CorruptSketch() }
        switch bytes[0] {
        case HyperLogLog.sparseFormat:
            guard bytes.count >= 4 else { throw CorruptSketch() }
            let count = Int(bytes[2]) | Int(bytes[3]) << 8
            guard bytes.count == 4 + count * 3 else { throw CorruptSketch() }
            try readSparse(bytes, count: count)
        case HyperLogLog.denseFormat:
            guard bytes.count == 2 + HyperLogLog.registerCount else { throw CorruptSketch() }
            let registers = Array(bytes[2...])
            guard !registers.contains(where: { $0 > HyperLogLog.maxRank }) else { throw CorruptSketch() }
            replaceRegisters(registers)
        default:
            throw CorruptSketch()
        }
    }

    /// Entries are written in ascending index order; any other order (or a repeated index, where the last one
    /// counts) is still read, through the register array.
    private mutating func readSparse(_ bytes: [UInt8], count: Int) throws {
        var entries: [UInt32] = []
        entries.reserveCapacity(count)
        var ascending = true
        var offset = 4
        for _ in 0..<count {
            let index = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
            let rank = bytes[offset + 2]
            offset += 3
            guard index < HyperLogLog.registerCount, rank <= HyperLogLog.maxRank else { throw CorruptSketch() }
            if let last = entries.last, Int(last >> 8) >= index { ascending = false }
            entries.append(UInt32(index) << 8 | UInt32(rank))
        }
        if ascending {
            replaceSparse(entries.filter { $0 & 0xFF != 0 })
        } else {
            var registers = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
            for entry in entries { registers[Int(entry >> 8)] = UInt8(truncatingIfNeeded: entry) }
            replaceRegisters(registers)
        }
    }
}
