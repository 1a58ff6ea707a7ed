import Foundation

/// Opaque, time-ordered identifiers: a type prefix, then 26 Crockford base32 characters of a ULID
/// (48 bits of milliseconds since the epoch followed by 80 random bits). Lexical order is creation order,
/// which is what cursor pagination relies on.
public enum Identifier {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    public static func make(prefix: String, now: Date = Date()) -> String {
        let millis = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - i))) }
        var rng = SystemRandomNumberGenerator()
        for i in 6..<16 { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        return prefix + "_" + encode(bytes)
    }

    /// True when `value` has the shape of an identifier with this prefix; used to reject garbage early.
    public static func isWellFormed(_ value: String, prefix: String) -> Bool {
        let utf8 = Array(value.utf8)
        let head = Array(prefix.utf8) + [UInt8(ascii: "_")]
        guard utf8.count == head.count + 26, Array(utf8.prefix(head.count)) == head else { return false }
        return utf8.dropFirst(head.count).allSatisfy { alphabet.contains($0) }
    }

    private static func encode(_ bytes: [UInt8]) -> String {
        // 128 bits -> 26 base32 digits (the first digit carries only 3 bits).
        var value = (hi: UInt64(0), lo: UInt64(0))
        for i in 0..<8 { value.hi = value.hi << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { value.lo = value.lo << 8 | UInt64(bytes[i]) }
        var out = [UInt8](repeating: 0, count: 26)
        for index in stride(from: 25, through: 0, by: -1) {
            let digit = Int(value.lo & 31)
            out[index] = alphabet[digit]
            value.lo = (value.lo >> 5) | (value.hi << 59)
            value.hi >>= 5
        }
        return String(decoding: out, as: UTF8.self)
    }
}
