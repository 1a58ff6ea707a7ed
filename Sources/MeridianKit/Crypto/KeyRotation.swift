import Foundation
import Logging
import SQLKit
import ServiceLifecycle

/// The background job of data-key rotation, one per service, run beside its HTTP server. After
/// `meridian keys rotate` made a new data key primary, it re-encrypts every `EncryptedColumn` value still
/// sealed under an older version, in batches, each batch one transaction that also records how far it got
/// (`meridian_reencryption`), so a job that crashed resumes where it stopped. An old key is retired (its
/// material erased) only once no value in any encrypted column uses it.
///
/// Each batch re-seals with compare-and-set, so a value a request rewrote meanwhile is left as the request
/// wrote it (already under the primary key). Writers in other replicas may use the old key until their next
/// reload; a pass therefore ends only when a count from the start finds nothing left.
public struct KeyRotation: Service {
    public let cipher: FieldCipher
    public let database: any Database
    public let columns: [EncryptedColumn]
    public let metrics: ServiceMetrics
    /// Where the retirement of a key is recorded (`data_key.retire`), in the transaction that retires it.
    public let audit: AuditLog
    let logger: Logger
    let batchSize: Int
    let interval: Duration
    /// How long a superseded key stays after its last value moved: long enough for every replica to reload
    /// its keys (`interval`), so none still seals under it.
    let retirementGrace: Duration

    public init(
        cipher: FieldCipher, database: any Database, columns: [EncryptedColumn], metrics: ServiceMetrics,
        audit: AuditLog, logger: Logger, batchSize: Int = 200, interval: Duration = .seconds(10),
        retirementGrace: Duration? = nil
    ) {
        self.cipher = cipher
        self.database = database
        self.columns = columns
        self.metrics = metrics
        self.audit = audit
        self.logger = logger
        self.batchSize = max(1, batchSize)
        self.interval = interval
        self.retirementGrace = retirementGrace ?? interval * 3
    }

    public func run() async throws {
        // The cipher is loaded in the service's `prepare`; until then there is nothing to do.
        while cipher.primaryVersion == nil {
            guard (try? await Task.sleep(for: .milliseconds(100))) != nil, !Task.isShuttingDownGracefully else { return }
        }
        while !Task.isShuttingDownGracefully {
            do {
                try await cipher.load()
                // With a single data key nothing can be sealed under an older one: no scan, no row locks.
                if cipher.loadedVersions.count > 1 {
                    while !Task.isShuttingDownGracefully, try await step() {}
                } else if let primary = cipher.primaryVersion {
                    // Nothing can be left on another key: the progress gauges say so without a scan.
                    recordGauges(primary: primary, remaining: 0)
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error(
                    "re-encryption after key rotation failed; retrying", metadata: ["error": "\(String(describing: error))"])
            }
            guard (try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }) != nil else { return }
        }
    }

    /// One batch of the first column with work left, or, when none has any, the retirement of unused keys.
    /// Returns whether there may be more work (call again), false when everything is on the primary key.
    @discardableResult
    public func step() async throws -> Bool {
        guard let primary = cipher.primaryVersion else { throw FieldCipherError.notLoaded(service: cipher.service) }
        var remaining = 0
        for column in columns {
            let outcome = try await reencryptBatch(column, primary: primary)
            if outcome.moved > 0 || outcome.passIncomplete { return true }
            remaining += outcome.remaining
        }
        recordGauges(primary: primary, remaining: remaining)
        if remaining == 0 { try await retireUnused(primary: primary) }
        return false
    }

    /// Steps until there is no work left (the CLI's `keys rotate --wait` and the tests use this).
    public func runToCompletion() async throws {
        while try await step() {}
    }

    struct BatchOutcome {
        var moved = 0
        /// The cursor has not reached the end of the table yet.
        var passIncomplete = false
        /// Values not on the primary key, counted when a pass reaches the end.
        var remaining = 0
    }

    func reencryptBatch(_ column: EncryptedColumn, primary: UInt32) async throws -> BatchOutcome {
        let prefix = FieldCipher.versionPrefix(primary)
        let outcome = try await database.transaction { sql -> BatchOutcome in
            var progress = try await KeyRotationProgress.load(column, sql)
            if progress?.targetVersion != Int64(primary) {
                progress = KeyRotationProgress(column: column, targetVersion: Int64(primary), afterID: "", rowsDone: 0)
            }
            guard var progress else { return BatchOutcome() }
            let rows = try await sql.select()
                .column(SQLColumn(column.idColumn), as: "row_id").column(SQLColumn(column.column), as: "sealed")
                .from(column.table)
                .where(SQLColumn(column.idColumn), .greaterThan, SQLBind(progress.afterID))
                .where(SQLColumn(column.column), .isNot, SQLLiteral.null)
                .where(KeyRotation.versionOf(column), .notEqual, SQLBind(prefix))
                .orderBy(SQLColumn(column.idColumn)).limit(batchSize)
                .for(.update)
                .all()
            var outcome = BatchOutcome()
            for row in rows {
                let id = try row.decode(column: "row_id", as: String.self)
                let sealed = try row.decode(column: "sealed", as: Data.self)
                if let resealed = try cipher.resealed(sealed, table: column.table, column: column.column, rowID: id) {
                    // Compare-and-set: a value rewritten since it was read stays as its writer left it.
                    try await sql.update(column.table).set(SQLColumn(column.column), to: SQLBind(resealed))
                        .where(SQLColumn(column.idColumn), .equal, SQLBind(id))
                        .where(SQLColumn(column.column), .equal, SQLBind(sealed)).run()
                    outcome.moved += 1
                }
                progress.afterID = id
            }
            progress.rowsDone += Int64(outcome.moved)
            if rows.count == batchSize {
                outcome.passIncomplete = true
            } else {
                // End of the table: anything left was written behind the cursor (by a replica that had not yet
                // reloaded its keys), so the next pass starts over.
                outcome.remaining = try await KeyRotation.countNotOn(prefix, column, sql)
                progress.afterID = ""
            }
            try await progress.save(sql)
            return outcome
        }
        if outcome.moved > 0 {
            metrics.registry.makeCounter(
                descriptor: .init(
                    metricName: "meridian_encryption_reencrypted_rows", unitName: "total",
                    helpText: "Values re-encrypted under the primary data key after a rotation"),
                labels: [("table", column.table), ("column", column.column)]
            ).increment(by: Int64(outcome.moved))
        }
        return outcome
    }

    /// Retires every superseded key no value uses any more, once the primary is older than the grace period,
    /// and records each retirement.
    func retireUnused(primary: UInt32) async throws {
        let audit = audit
        try await database.transaction { sql in
            let keys = try await DataKeyStore.rows(sql).filter { $0.purpose == DataKeyStore.Purpose.data.rawValue }
            guard let primaryRow = keys.first(where: { $0.version == Int64(primary) }),
                primaryRow.createdAt <= Timestamp.micros(Date()) - Int64(retirementGrace.components.seconds) * 1_000_000
            else { return }
            var retired: [Int64] = []
            for key in keys where key.state == DataKeyStore.State.active.rawValue {
                var used = 0
                for column in columns {
                    used += try await KeyRotation.countOn(FieldCipher.versionPrefix(UInt32(key.version)), column, sql)
                }
                if used == 0, try await DataKeyStore.retire(version: key.version, sql) {
                    retired.append(key.version)
                }
            }
            // Last in the transaction, as `AuditLog.append` asks: on PostgreSQL it holds the append lock.
            for version in retired {
                try await audit.append(KeyAudit.dataKeyRetired(version: version, primary: Int64(primary)), on: sql)
                logger.notice("retired a data key no value uses", metadata: ["key_version": "\(version)"])
            }
        }
    }

    /// Per-column progress and key states, for `meridian keys status`.
    public func status() async throws -> KeyRotationStatus {
        try await database.read { sql in
            let keys = try await DataKeyStore.rows(sql).filter { $0.purpose == DataKeyStore.Purpose.data.rawValue }
            let primary = keys.first { $0.state == DataKeyStore.State.primary.rawValue }?.version ?? 0
            var columnStatus: [KeyRotationStatus.Column] = []
            for column in columns {
                let remaining = try await KeyRotation.countNotOn(FieldCipher.versionPrefix(UInt32(primary)), column, sql)
                let progress = try await KeyRotationProgress.load(column, sql)
                columnStatus.append(
                    .init(
                        table: column.table, column: column.column, remaining: remaining,
                        reencrypted: progress?.targetVersion == primary ? progress?.rowsDone ?? 0 : 0))
            }
            return KeyRotationStatus(
                service: cipher.service, primaryVersion: primary,
                keys: keys.map { .init(version: $0.version, state: $0.state, createdAt: $0.createdAt) },
                columns: columnStatus)
        }
    }

    func recordGauges(primary: UInt32, remaining: Int) {
        metrics.registry.makeGauge(
            descriptor: .init(
                metricName: "meridian_encryption_rows_remaining", unitName: "",
                helpText: "Encrypted values not yet on the primary data key")
        ).set(Double(remaining))
        metrics.registry.makeGauge(
            descriptor: .init(
                metricName: "meridian_encryption_primary_key_version", unitName: "", helpText: "Version of the primary data key")
        ).set(Double(primary))
    }

    /// The first four bytes of the column (the key version); `substr` reads bytes of a BLOB on SQLite and of a
    /// BYTEA on PostgreSQL alike.
    static func versionOf(_ column: EncryptedColumn) -> any SQLExpression {
        SQLFunction("substr", args: SQLColumn(column.column), SQLLiteral.numeric("1"), SQLLiteral.numeric("4"))
    }

    static func countNotOn(_ prefix: Data, _ column: EncryptedColumn, _ sql: any SQLDatabase) async throws -> Int {
        try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from(column.table)
            .where(SQLColumn(column.column), .isNot, SQLLiteral.null)
            .where(versionOf(column), .notEqual, SQLBind(prefix)).first()?
            .decode(column: "n", as: Int.self) ?? 0
    }

    static func countOn(_ prefix: Data, _ column: EncryptedColumn, _ sql: any SQLDatabase) async throws -> Int {
        try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from(column.table)
            .where(versionOf(column), .equal, SQLBind(prefix)).first()?
            .decode(column: "n", as: Int.self) ?? 0
    }
}

/// Where re-encryption of one column stands, as stored in `meridian_reencryption`.
struct KeyRotationProgress {
    let column: EncryptedColumn
    var targetVersion: Int64
    var afterID: String
    var rowsDone: Int64

    static func load(_ column: EncryptedColumn, _ sql: any SQLDatabase) async throws -> KeyRotationProgress? {
        guard
            let row = try await sql.select().columns("target_version", "after_id", "rows_done")
                .from("meridian_reencryption")
                .where("table_name", .equal, SQLBind(column.table)).where("column_name", .equal, SQLBind(column.column))
                .first()
        else { return nil }
        return KeyRotationProgress(
            column: column, targetVersion: try row.decode(column: "target_version", as: Int64.self),
            afterID: try row.decode(column: "after_id", as: String.self),
            rowsDone: try row.decode(column: "rows_done", as: Int64.self))
    }

    func save(_ sql: any SQLDatabase) async throws {
        try await sql.insert(into: "meridian_reencryption")
            .columns("table_name", "column_name", "target_version", "after_id", "rows_done", "updated_at")
            .values(
                SQLBind(column.table), SQLBind(column.column), SQLBind(targetVersion), SQLBind(afterID),
                SQLBind(rowsDone), SQLBind(Timestamp.micros(Date()))
            )
            .onConflict(with: ["table_name", "column_name"]) { update in
                update.set(excludedValueOf: "target_version").set(excludedValueOf: "after_id")
                    .set(excludedValueOf: "rows_done").set(excludedValueOf: "updated_at")
            }
            .run()
    }
}

/// What `meridian keys status` prints for one service.
public struct KeyRotationStatus: Sendable, Codable {
    public struct Key: Sendable, Codable {
        public let version: Int64
        public let state: String
        public let createdAt: Int64
    }

    public struct Column: Sendable, Codable {
        public let table: String
        public let column: String
        /// Values not yet on the primary key.
        public let remaining: Int
        /// Values re-encrypted towards the current primary so far.
        public let reencrypted: Int64
    }

    public let service: String
    public let primaryVersion: Int64
    public let keys: [Key]
    public let columns: [Column]
}
