import MeridianKit
import SQLKit
import Synchronization

/// Page-cache settings for the SQLite writer connection, applied by the first ingestion transaction.
///
/// A batch spread over days touches thousands of pages of the raw-event indexes and the rollup table; with
/// SQLite's default 2 MB page cache nearly every one is read back from the file (a `pread` each) and rewritten
/// to the WAL. A 64 MB cache keeps the indexes' upper levels and the busy rollup pages in memory.
///
/// Durability is untouched: `journal_mode=WAL` with `synchronous=FULL` (the kernel's settings) still syncs every
/// commit before it is acknowledged. The cache is per connection and the analytics database has one writer, so
/// applying it once, on that writer, is enough; PostgreSQL needs nothing.
final class WriterTuning: Sendable {
    static let statements = ["PRAGMA cache_size=-65536"]

    private let applied = Atomic<Bool>(false)

    /// In the caller's write transaction; only the first call does anything.
    func applyOnce(on sql: any SQLDatabase, engine: DatabaseEngine) async throws {
        guard engine == .sqlite, !applied.load(ordering: .acquiring) else { return }
        for statement in WriterTuning.statements {
            try await sql.raw(SQLQueryString(statement)).run()
        }
        applied.store(true, ordering: .releasing)
    }
}
