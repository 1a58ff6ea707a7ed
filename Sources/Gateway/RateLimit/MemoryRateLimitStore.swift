import Synchronization

/// The rate-limit state of one gateway replica: the TAT of every key in 64 lock-sharded maps, so concurrent
/// requests for different keys rarely meet on a lock, and no actor hop sits on the request path.
///
/// Bounded: a key whose TAT has passed carries no information (GCRA treats it like a key never seen), so when a
/// shard is full its idle keys are dropped first; if it is still full, the keys closest to idle go (a slight
/// leniency for them, never a wrong refusal).
public final class MemoryRateLimitStore: Sendable {
    static let shardCount = 64

    /// One lock and its map; a class because a `Mutex` cannot be copied into an array.
    final class Shard: Sendable {
        let entries = Mutex<[String: Int64]>([:])
    }

    private let shards: [Shard]
    private let capacityPerShard: Int
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant

    /// - Parameter capacity: the most keys held across all shards.
    public init(capacity: Int = 100_000) {
        self.shards = (0..<Self.shardCount).map { _ in Shard() }
        self.capacityPerShard = max(1, capacity / Self.shardCount)
        self.origin = clock.now
    }

    /// Microseconds on the gateway's monotonic clock.
    func now() -> Int64 { (clock.now - origin).microseconds }

    public func decide(key: String, gcra: GCRA) -> GCRA.Decision {
        decide(key: key, gcra: gcra, now: now())
    }

    func decide(key: String, gcra: GCRA, now: Int64) -> GCRA.Decision {
        let shard = shards[Int(UInt(bitPattern: key.hashValue) % UInt(Self.shardCount))]
        let capacity = capacityPerShard
        return shard.entries.withLock { entries in
            let decision = gcra.decide(storedTAT: entries[key], now: now)
            guard decision.admitted else { return decision }
            if entries[key] == nil, entries.count >= capacity {
                Self.evict(&entries, now: now, keeping: max(0, capacity * 3 / 4))
            }
            entries[key] = decision.tat
            return decision
        }
    }

    private static func evict(_ entries: inout [String: Int64], now: Int64, keeping target: Int) {
        entries = entries.filter { $0.value > now }
        guard entries.count > target else { return }
        for (key, _) in entries.sorted(by: { $0.value < $1.value }).prefix(entries.count - target) {
            entries[key] = nil
        }
    }

    /// Keys currently held (for tests and metrics).
    public var count: Int { shards.reduce(0) { total, shard in total + shard.entries.withLock { $0.count } } }
}
