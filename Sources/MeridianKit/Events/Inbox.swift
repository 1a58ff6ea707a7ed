import Foundation
import Logging
import SQLKit

/// A consuming service's inbox (DESIGN.md section 8): applies each event at most once by recording its id in
/// the same transaction as the handler's effect. Redelivery (the outbox delivers at least once) then finds
/// the id and applies nothing.
public struct Inbox: Sendable {
    public let database: any Database
    let logger: Logger
    let inFlight = InFlightReceipts()

    public init(database: any Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// What receiving one event did.
    public enum Outcome: String, Sendable, Equatable {
        /// The handler ran and its effect was committed with the inbox row.
        case applied
        /// Already received before: nothing was done.
        case duplicate
        /// A type this service does not consume (the handler threw `UnhandledEventType`): recorded, no effect.
        case ignored
    }

    /// Applies `envelope` with `handler` exactly once. The handler runs inside the transaction that records the
    /// id, with the envelope's trace context as `TraceContext.current`; if it throws, nothing is recorded and
    /// the error propagates (the producer retries), except `UnhandledEventType`, which is recorded as ignored.
    ///
    /// A repeat is answered from a read, without a write transaction; concurrent receipts of one id in this
    /// process wait for the first instead of queueing for the writer (`InFlightReceipts`).
    public func receive(
        _ envelope: EventEnvelope, handler: @Sendable (EventEnvelope, any SQLDatabase) async throws -> Void
    ) async throws -> Outcome {
        while true {
            if try await outcome(of: envelope.id) != nil { return .duplicate }
            // Another receipt of this id was in flight and has finished: recorded (a duplicate now) or failed
            // (this one may apply it), so look again.
            guard await inFlight.lead(envelope.id) else { continue }
            defer { inFlight.finish(envelope.id) }
            return try await apply(envelope, handler: handler)
        }
    }

    private func apply(
        _ envelope: EventEnvelope, handler: @Sendable (EventEnvelope, any SQLDatabase) async throws -> Void
    ) async throws -> Outcome {
        let trace = TraceContext(traceparent: envelope.traceparent, tracestate: envelope.tracestate)
        do {
            return try await database.transaction { sql in
                guard try await record(envelope, outcome: .applied, on: sql) else { return .duplicate }
                try await TraceContext.$current.withValue(trace) { try await handler(envelope, sql) }
                return .applied
            }
        } catch is UnhandledEventType {
            // Whatever the handler wrote before refusing was rolled back with the row; record the refusal alone.
            return try await database.transaction { sql in
                try await record(envelope, outcome: .ignored, on: sql) ? .ignored : .duplicate
            }
        }
    }

    /// Inserts the inbox row unless the id is there already. On PostgreSQL a concurrent insert of the same id
    /// waits for the first transaction: if it commits, this one sees the conflict; if it rolls back, this one
    /// inserts and applies.
    private func record(_ envelope: EventEnvelope, outcome: Outcome, on sql: any SQLDatabase) async throws -> Bool {
        let inserted = try await sql.insert(into: "inbox_events")
            .columns("id", "type", "producer", "occurred_at", "received_at", "outcome")
            .values(
                SQLBind(envelope.id), SQLBind(envelope.type), SQLBind(envelope.producer),
                SQLBind(Timestamp.micros(envelope.occurredAt)), SQLBind(Timestamp.micros(Date())),
                SQLBind(outcome.rawValue)
            )
            .ignoringConflicts(with: ["id"])
            .returning("id")
            .all()
        return !inserted.isEmpty
    }

    /// The recorded outcome of an event id, if it was received.
    public func outcome(of eventID: String) async throws -> Outcome? {
        try await database.read { sql in
            try await sql.select().column("outcome").from("inbox_events").where("id", .equal, SQLBind(eventID))
                .first()
                .flatMap { Outcome(rawValue: try $0.decode(column: "outcome", as: String.self)) }
        }
    }

    /// Forgets ids received before `cutoff`; keep them longer than the producers' retry age, or a late
    /// redelivery would apply again. Returns how many rows were removed.
    @discardableResult
    public func prune(receivedBefore cutoff: Date) async throws -> Int {
        try await database.transaction { sql in
            try await sql.delete(from: "inbox_events")
                .where("received_at", .lessThan, SQLBind(Timestamp.micros(cutoff)))
                .returning("id")
                .all().count
        }
    }
}

/// Thrown by an inbox handler for an event type the service does not consume: the event is recorded as
/// ignored and acknowledged, so the producer stops sending it.
public struct UnhandledEventType: Error, Sendable {
    public let type: String
    public init(_ type: String) { self.type = type }
}
