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

    /// Inserts `events` (ids already unique among them) and answers the ids that were new.
    func insert(_ events: [EventRow], on sql: any SQLDatabase) async throws -> Set<String> {
        var inserted = Set<String>(minimumCapacity: events.count)
        var start = 0
        while start < events.count {
            let chunk = events[start..<min(start + rowsPerStatement, events.count)]
            let builder = sql.insert(into: "analytics_events")
                .columns(
                    "event_id", "event_name", "distinct_id", "user_id", "anonymous_id", "occurred_at", "received_at",
                    "source", "properties")
            for stored in chunk {
                let event = stored.event
                builder.values([
                    SQLBind(event.id), SQLBind(event.name), SQLBind(event.distinctID), EventStore.bind(event.userID),
                    EventStore.bind(event.anonymousID), SQLBind(event.occurredAt), SQLBind(stored.receivedAt),
                    SQLBind(event.source.rawValue),
                    stored.sealedProperties.map { SQLBind($0) as any SQLExpression } ?? SQLLiteral.null,
                ])
            }
            let rows = try await builder.ignoringConflicts(with: "event_id").returning("event_id").all()
            for row in rows { inserted.insert(try row.decode(column: "event_id", as: String.self)) }
            start += rowsPerStatement
        }
        return inserted
    }

    static func bind(_ value: String?) -> any SQLExpression {
        value.map { SQLBind($0) as any SQLExpression } ?? SQLLiteral.null
    }
}
