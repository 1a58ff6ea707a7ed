import Foundation
import MeridianKit
import SQLKit

/// What became of a batch: new events stored and rolled up, and events whose id was already known.
struct IngestOutcome: Sendable, Equatable {
    var accepted: Int
    var duplicates: Int
}

/// Stores batches of validated events and updates the rollups, each batch in one transaction: either every new
/// event and its rollup contribution is committed, or none. Duplicates (within the batch, or already stored) are
/// dropped before they reach the rollups, so a retried batch never counts twice.
///
/// Concurrent batches are committed together (`GroupCommit`): the database has one writer, and a group shares
/// one commit and reads and writes each rollup row it touches once, where one transaction per batch would
/// rewrite the same rows of the current minute, hour and day once per batch. Properties are sealed before a
/// batch joins the queue, so the writer only stores bytes.
struct EventIngestor: Sendable {
    let sealer: PropertySealer
    let events: EventStore
    let rollups: RollupStore
    let commits: GroupCommit<PreparedBatch, IngestOutcome>

    /// Events per group: a few concurrent batches of the largest size.
    static let maxGroupEvents = 8 * BatchLimits.maxEvents

    init(database: any Database, sealer: PropertySealer) {
        let events = EventStore(engine: database.engine)
        let rollups = RollupStore(engine: database.engine)
        self.sealer = sealer
        self.events = events
        self.rollups = rollups
        commits = GroupCommit(maxWeight: EventIngestor.maxGroupEvents) { batches in
            try await database.transaction { sql in
                try await EventIngestor.store(batches, events: events, rollups: rollups, on: sql)
            }
        }
    }

    func ingest(_ batch: [AnalyticsEvent], receivedAt: Date = Date()) async throws -> IngestOutcome {
        guard !batch.isEmpty else { return IngestOutcome(accepted: 0, duplicates: 0) }
        let prepared = try prepare(batch, receivedAt: receivedAt)
        return try await commits.submit(prepared, weight: prepared.events.count)
    }

    /// In the caller's transaction (the inbox of domain events shares it).
    func ingest(_ batch: [AnalyticsEvent], receivedAt: Date, on sql: any SQLDatabase) async throws -> IngestOutcome {
        let prepared = try prepare(batch, receivedAt: receivedAt)
        return try await EventIngestor.store([prepared], events: events, rollups: rollups, on: sql)[0]
    }

    /// The batch without the ids it repeats, properties sealed.
    private func prepare(_ batch: [AnalyticsEvent], receivedAt: Date) throws -> PreparedBatch {
        let received = Timestamp.micros(receivedAt)
        var seen = Set<String>(minimumCapacity: batch.count)
        var unique: [EventRow] = []
        unique.reserveCapacity(batch.count)
        for event in batch where seen.insert(event.id).inserted {
            let sealed = try event.properties.map { try sealer.seal($0, eventID: event.id) }
            unique.append(EventRow(event: event, receivedAt: received, sealedProperties: sealed))
        }
        return PreparedBatch(events: unique, submitted: batch.count)
    }

    /// Stores `batches` and their rollup contribution in the transaction `sql`. An id that two batches of the
    /// group share is stored once and counted as accepted in the first of them, a duplicate in the others.
    static func store(
        _ batches: [PreparedBatch], events: EventStore, rollups: RollupStore, on sql: any SQLDatabase
    ) async throws -> [IngestOutcome] {
        var claimed = Set<String>()
        var firstClaims: [[EventRow]] = []
        firstClaims.reserveCapacity(batches.count)
        for batch in batches {
            firstClaims.append(batch.events.filter { claimed.insert($0.event.id).inserted })
        }
        let inserted = try await events.insert(firstClaims.flatMap { $0 }, on: sql)
        var accumulator = RollupAccumulator()
        var outcomes: [IngestOutcome] = []
        outcomes.reserveCapacity(batches.count)
        for (batch, claims) in zip(batches, firstClaims) {
            var accepted = 0
            for stored in claims where inserted.contains(stored.event.id) {
                accumulator.add(stored.event)
                accepted += 1
            }
            outcomes.append(IngestOutcome(accepted: accepted, duplicates: batch.submitted - accepted))
        }
        try await rollups.apply(accumulator, on: sql)
        return outcomes
    }
}

/// A batch ready for the writer: its distinct events, and how many it was sent with.
struct PreparedBatch: Sendable {
    var events: [EventRow]
    var submitted: Int
}

/// An event as its row stores it: properties already sealed.
struct EventRow: Sendable {
    var event: AnalyticsEvent
    var receivedAt: Int64
    var sealedProperties: Data?
}
