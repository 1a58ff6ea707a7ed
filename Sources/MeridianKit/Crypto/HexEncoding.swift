/// Lower-case hexadecimal of digests and MACs (ids, fingerprints, blind indexes): one table lookup per nibble,
/// not a `String(format:)` per byte.
extension Sequence where Element == UInt8 {
    public var hexString: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            bytes.append(hexDigits[Int(byte >> 4)])
            bytes.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

let hexDigits = Array("0123456789abcdef".utf8)
