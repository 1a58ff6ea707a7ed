import MeridianKit
import SQLKit

extension DeliveryQueue {
    /// Each delivery keeps the W3C `traceparent` of the span that queued it (a request's or an event's), so the
    /// worker's attempt, however much later, joins that trace. Nullable: rows queued before it, or outside any trace, have none.
    static let traceMigration = Migration("add_delivery_traceparent") { sql, _ in
        try await sql.raw("ALTER TABLE notification_deliveries ADD COLUMN traceparent TEXT").run()
    }
}
