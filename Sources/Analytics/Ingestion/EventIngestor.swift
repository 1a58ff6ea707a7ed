import Foundation
import MeridianKit
import SQLKit

/// What became of a batch: new events stored and rolled up, and events whose id was already known.
struct IngestOutcome: Sendable, Equatable {
    var accepted: Int
    var duplicates: Int
}

/// Stores a batch of validated events and updates the rollups, all in one transaction: either every new event
/// and its rollup contribution is committed, or none. Duplicates (within the batch, or already stored) are
/// dropped before they reach the rollups, so a retried batch never counts twice.
struct EventIngestor: Sendable {
    let database: any Database
    let events: EventStore
    let rollups: RollupStore

    init(database: any Database, sealer: PropertySealer) {
        self.database = database
        self.events = EventStore(sealer: sealer, engine: database.engine)
        self.rollups = RollupStore(engine: database.engine)
    }

    func ingest(_ batch: [AnalyticsEvent], receivedAt: Date = Date()) async throws -> IngestOutcome {
        guard !batch.isEmpty else { return IngestOutcome(accepted: 0, duplicates: 0) }
        return try await database.transaction { sql in try await ingest(batch, receivedAt: receivedAt, on: sql) }
    }

    /// In the caller's transaction (the inbox of domain events shares it).
    func ingest(_ batch: [AnalyticsEvent], receivedAt: Date, on sql: any SQLDatabase) async throws -> IngestOutcome {
        var seen = Set<String>(minimumCapacity: batch.count)
        var unique: [AnalyticsEvent] = []
        unique.reserveCapacity(batch.count)
        for event in batch where seen.insert(event.id).inserted { unique.append(event) }
        let inserted = try await events.insert(unique, receivedAt: Timestamp.micros(receivedAt), on: sql)
        var accumulator = RollupAccumulator()
        for event in unique where inserted.contains(event.id) { accumulator.add(event) }
        try await rollups.apply(accumulator, on: sql)
        return IngestOutcome(accepted: inserted.count, duplicates: batch.count - inserted.count)
    }
}
