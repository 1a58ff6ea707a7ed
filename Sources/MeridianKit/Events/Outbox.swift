import Foundation
import SQLKit

/// A producing service's transactional outbox (DESIGN.md section 8): `enqueue` writes the event, and one
/// pending delivery per subscriber of its type, in the caller's transaction, so the event exists exactly when
/// the change that caused it was committed. `OutboxDispatcher` delivers it afterwards.
public struct Outbox: Sendable {
    /// The producing service's name (the envelope's `producer`).
    public let producer: String
    public let subscriptions: EventSubscriptions
    /// The service's cipher: payloads are sealed with AAD bound to `outbox_events`, `payload` and the event id.
    let cipher: FieldCipher

    /// The outbox's ciphertext column, for the service's `encryptedColumns` (key rotation re-encrypts it).
    public static let encryptedColumns = [EncryptedColumn(table: "outbox_events", column: "payload", idColumn: "id")]

    public init(producer: String, cipher: FieldCipher, subscriptions: EventSubscriptions = .platform) {
        self.producer = producer
        self.cipher = cipher
        self.subscriptions = subscriptions
    }

    /// In the caller's transaction. The payload is encrypted at rest. The envelope carries the current task's
    /// `TraceContext` (the request's `traceparent`), when there is one.
    @discardableResult
    public func enqueue(
        type: String, payload: JSONValue, occurredAt: Date = Date(), on db: any SQLDatabase
    ) async throws -> EventEnvelope {
        let trace = TraceContext.current
        let envelope = EventEnvelope(
            id: Identifier.make(prefix: EventEnvelope.idPrefix, now: occurredAt), type: type, occurredAt: occurredAt,
            producer: producer, traceparent: trace?.traceparent, tracestate: trace?.tracestate, payload: payload)
        let sealed = try cipher.sealBytes(
            payload.serialized(), table: "outbox_events", column: "payload", rowID: envelope.id)
        try await db.insert(into: "outbox_events")
            .columns("id", "type", "occurred_at", "traceparent", "tracestate", "payload")
            .values(
                SQLBind(envelope.id), SQLBind(type), SQLBind(Timestamp.micros(occurredAt)), SQLBind(trace?.traceparent),
                SQLBind(trace?.tracestate), SQLBind(sealed)
            )
            .run()
        let now = Timestamp.micros(Date())
        for subscriber in subscriptions.subscribers(of: type) {
            try await db.insert(into: "outbox_deliveries")
                .columns("event_id", "subscriber", "status", "attempts", "created_at", "next_attempt_at")
                .values(
                    SQLBind(envelope.id), SQLBind(subscriber), SQLBind(OutboxDeliveryStatus.pending.rawValue),
                    SQLBind(Int64(0)), SQLBind(now), SQLBind(now)
                )
                .run()
        }
        return envelope
    }
}

/// Where one delivery of an event to one subscriber stands.
public enum OutboxDeliveryStatus: String, Sendable, Codable, CaseIterable {
    /// Not yet acknowledged; due at `next_attempt_at`.
    case pending
    /// The subscriber answered 2xx.
    case delivered
    /// Attempts or age exhausted (the dead letters; `OutboxStore.requeue` sends one again).
    case dead
}
