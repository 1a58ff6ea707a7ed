import MeridianKit
import Synchronization

/// The usage records waiting to be sent to analytics, bounded: when analytics is
/// slow or down, new records are dropped (and counted) rather than held without limit or waited for. Appending
/// is one lock and an array append, so a request never waits on its report.
final class ReportBuffer<Record: Sendable>: Sendable {
    let capacity: Int
    private let records: Mutex<[Record]>

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        self.records = Mutex([])
    }

    /// False when the buffer is full and the record was dropped.
    func append(_ record: Record) -> Bool {
        records.withLock { records in
            guard records.count < capacity else { return false }
            records.append(record)
            return true
        }
    }

    /// Takes up to `limit` of the oldest records.
    func drain(upTo limit: Int) -> [Record] {
        records.withLock { records in
            let count = min(limit, records.count)
            let batch = Array(records.prefix(count))
            records.removeFirst(count)
            return batch
        }
    }

    var count: Int { records.withLock { $0.count } }
}

/// The counters of one kind of report: taken into the buffer, dropped (buffer full, or analytics refused or
/// was unreachable), accepted by analytics, and batches analytics did not accept.
struct ReportCounters: Sendable {
    let recorded: MetricCounter
    let dropped: MetricCounter
    let sent: MetricCounter
    let batchFailures: MetricCounter

    /// `gateway_<kind>_records`, `…_records_dropped`, `…_records_sent` and `gateway_<kind>_batch_failures`.
    init(_ service: ServiceMetrics, kind: String, noun: String) {
        recorded = service.makeCounter("gateway_\(kind)_records", help: "\(noun) taken into the buffer")
        dropped = service.makeCounter(
            "gateway_\(kind)_records_dropped",
            help: "\(noun) dropped (buffer full, or analytics refused or unreachable)")
        sent = service.makeCounter("gateway_\(kind)_records_sent", help: "\(noun) accepted by analytics")
        batchFailures = service.makeCounter(
            "gateway_\(kind)_batch_failures", help: "Batches of \(noun.lowercased()) analytics did not accept")
    }
}
