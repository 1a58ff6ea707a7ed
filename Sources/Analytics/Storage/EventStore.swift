import Foundation
import MeridianKit
import SQLKit

/// Writes raw events: multi-row inserts that let the primary key drop duplicates, and report which rows were new.
struct EventStore: Sendable {
    let engine: DatabaseEngine

    /// Rows per INSERT statement, 9 binds each: a whole group of batches in one statement on SQLite (whose build
    /// allows 250,000 parameters; each statement is a round trip through the database's thread pool), well under
    /// PostgreSQL's 65,535 parameters there.
    var rowsPerStatement: Int { engine == .sqlite ? EventIngestor.maxGroupEvents : 500 }

    static let columns = [
        "event_id", "event_name", "distinct_id", "user_id", "anonymous_id", "occurred_at", "received_at", "source",
        "properties",
    ]

    /// Inserts `events` (ids already unique among them) and answers the ids that were new.
    func insert(_ events: [EventRow], on sql: any SQLDatabase) async throws -> Set<String> {
        if let writer = sql as? SQLiteWriter { return try await insert(events, on: writer) }
        var inserted = Set<String>(minimumCapacity: events.count)
        var start = 0
        while start < events.count {
            let chunk = events[start..<min(start + rowsPerStatement, events.count)]
            let builder = sql.insert(into: "analytics_events").columns(EventStore.columns)
            for stored in chunk { builder.values(EventStore.values(stored).map(\.expression)) }
            let rows = try await builder.ignoringConflicts(with: "event_id").returning("event_id").all()
            for row in rows { inserted.insert(try row.decode(column: "event_id", as: String.self)) }
            start += rowsPerStatement
        }
        return inserted
    }

    /// SQLite: the same statement, its text and values handed straight to the connection (`SQLiteWriter`).
    private func insert(_ events: [EventRow], on writer: SQLiteWriter) async throws -> Set<String> {
        var inserted = Set<String>(minimumCapacity: events.count)
        var start = 0
        while start < events.count {
            let chunk = events[start..<min(start + rowsPerStatement, events.count)]
            start += rowsPerStatement
            var binds: [SQLValue] = []
            binds.reserveCapacity(chunk.count * EventStore.columns.count)
            for stored in chunk { binds += EventStore.values(stored) }
            let statement =
                "INSERT INTO analytics_events (\(EventStore.columns.joined(separator: ", ")))"
                + SQLiteStatements.values(rows: chunk.count, columns: EventStore.columns.count)
                + " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
            for row in try await writer.query(statement, binds) { inserted.insert(try row[0].text()) }
        }
        return inserted
    }

    /// A row's values, in `columns` order.
    static func values(_ stored: EventRow) -> [SQLValue] {
        let event = stored.event
        return [
            .text(event.id), .text(event.name), .text(event.distinctID), SQLValue(event.userID),
            SQLValue(event.anonymousID), .integer(event.occurredAt), .integer(stored.receivedAt),
            .text(event.source.rawValue), stored.sealedProperties.map(SQLValue.blob) ?? .null,
        ]
    }
}
