import Foundation
import MeridianKit
import SQLKit

/// The events the users service publishes (docs/events.md). `user.created` carries the id only: consumers
/// that need contact details ask users for them with their service token, so personal data never sits in an
/// outbox or an inbox.
enum UserEvents {
    static func created(_ user: User, outbox: Outbox, on sql: any SQLDatabase) async throws {
        try await outbox.enqueue(
            type: EventType.userCreated, payload: .object(["user_id": .string(user.id)]), occurredAt: user.createdAt,
            on: sql)
    }
}
