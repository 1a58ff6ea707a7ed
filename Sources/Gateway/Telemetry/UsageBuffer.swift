import Synchronization

/// The usage records waiting to be sent to analytics, bounded: when analytics is slow or down, new records are
/// dropped (and counted) rather than held without limit or waited for. Appending is one lock and an array
/// append, so a request never waits on its report. (Refused requests have their own window, `DeniedRequests`,
/// which merges alike reports.)
final class UsageBuffer: Sendable {
    let capacity: Int
    private let records: Mutex<[UsageRecord]>

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        self.records = Mutex([])
    }

    /// False when the buffer is full and the record was dropped.
    func append(_ record: UsageRecord) -> Bool {
        records.withLock { records in
            guard records.count < capacity else { return false }
            records.append(record)
            return true
        }
    }

    /// Takes up to `limit` of the oldest records.
    func drain(upTo limit: Int) -> [UsageRecord] {
        records.withLock { records in
            let count = min(limit, records.count)
            let batch = Array(records.prefix(count))
            records.removeFirst(count)
            return batch
        }
    }

    var count: Int { records.withLock { $0.count } }
}
