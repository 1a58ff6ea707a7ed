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
