import Foundation
import Synchronization

/// Opaque, time-ordered identifiers: a type prefix, then 26 Crockford base32 characters of a ULID
/// (48 bits of milliseconds since the epoch followed by 80 random bits). Lexical order is creation order,
/// which is what cursor pagination relies on. Within one millisecond the process increments the random part
/// (monotonic ULIDs), so ids made one after another in a process always sort in that order.
public enum Identifier {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
    private static let last = Mutex<(millis: UInt64, high: UInt16, low: UInt64)>((0, 0, 0))

    public static func make(prefix: String, now: Date = Date()) -> String {
        let clock = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let (millis, high, low) = last.withLock { state -> (UInt64, UInt16, UInt64) in
            if clock <= state.millis {
                // Same (or an earlier) millisecond: step the 80-bit random part by one.
                let (low, carry) = state.low.addingReportingOverflow(1)
                state.low = low
                if carry { state.high &+= 1 }
            } else {
                var rng = SystemRandomNumberGenerator()
                state = (clock, UInt16.random(in: 0...UInt16.max, using: &rng), rng.next())
            }
            return state
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - i))) }
        bytes[6] = UInt8(truncatingIfNeeded: high >> 8)
        bytes[7] = UInt8(truncatingIfNeeded: high)
        for i in 8..<16 { bytes[i] = UInt8(truncatingIfNeeded: low >> (8 * (15 - i))) }
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
