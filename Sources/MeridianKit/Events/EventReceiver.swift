import Foundation
import Hummingbird
import SQLKit

/// Consumers: mount `POST /internal/events` (permission `events:deliver`, a client-credentials token) and apply
/// each envelope exactly once: the inbox row and the effect share one transaction; a repeat answers 200 and
/// does nothing.
public enum EventReceiver {
    public static let path = "/internal/events"

    /// The access rule of the route, for the consumer's route table
    /// (`table.merging(EventReceiver.accessRules)`).
    public static let accessRules: RouteAccessTable = ["POST /internal/events": .anyOf([.eventsDeliver])]

    /// Answers 200 `{"id", "outcome": "applied" | "duplicate" | "ignored"}`. A malformed envelope is a 422 (the
    /// producer's bug: retrying will not help, and the dead letter shows it). A handler's `Problem` is the
    /// answer as is; any other handler error is a 503, so the producer retries later.
    public static func mount(
        on router: Router<MeridianRequestContext>, inbox: Inbox,
        handler: @escaping @Sendable (EventEnvelope, any SQLDatabase) async throws -> Void
    ) {
        router.post(RouterPath(path)) { request, context -> Response in
            // The route table should already demand this; the receiver does not rely on it.
            let principal = try context.requirePrincipal()
            guard principal.has(.eventsDeliver) else {
                throw Problem(
                    .forbidden, type: Problem.typeBase + "insufficient-permission", title: "Forbidden",
                    detail: "Delivering events needs the events:deliver permission.")
            }
            var body = try await request.fieldReader(context: context)
            let envelope = try EventEnvelope.read(&body)
            let outcome: Inbox.Outcome
            do {
                // In a consumer span continuing the event's trace (the inbox logger's label is the service).
                outcome = try await EventConsumptionSpan.run(envelope, consumer: inbox.logger.label) {
                    try await inbox.receive(envelope, handler: handler)
                }
            } catch let problem as Problem {
                throw problem
            } catch {
                context.logger.error(
                    "applying an event failed",
                    metadata: [
                        "event_id": .string(envelope.id), "event_type": .string(envelope.type),
                        "error": .string(String(describing: type(of: error))),
                    ])
                throw Problem(
                    .serviceUnavailable, detail: "The event could not be applied now; deliver it again later.",
                    headers: [.retryAfter: "5"])
            }
            return try Response.json(["id": envelope.id, "outcome": outcome.rawValue])
        }
    }
}
