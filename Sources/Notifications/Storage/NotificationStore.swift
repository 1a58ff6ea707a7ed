import Foundation
import MeridianKit
import SQLKit

/// Notifications with their deliveries and attempts, on SQLKit: one code path for SQLite and PostgreSQL.
struct NotificationStore: Sendable {
    let database: any Database
    let rows: NotificationRows

    /// Inserts notifications and their deliveries in the caller's transaction.
    func insert(_ notifications: [Notification], on sql: any SQLDatabase) async throws {
        for notification in notifications {
            try await sql.insert(into: "notifications").columns(NotificationRows.notificationColumns)
                .values(try rows.values(of: notification)).run()
            for delivery in notification.deliveries {
                try await sql.insert(into: "notification_deliveries").columns(NotificationRows.deliveryColumns)
                    .values(NotificationRows.values(of: delivery)).run()
            }
        }
    }

    /// A notification with every delivery and attempt.
    func notification(id: String) async throws -> Notification? {
        try await database.read { sql in try await notification(id: id, on: sql) }
    }

    func notification(id: String, on sql: any SQLDatabase) async throws -> Notification? {
        guard let row = try await sql.select().column("*").from("notifications").where("id", .equal, SQLBind(id)).first()
        else { return nil }
        let deliveryRows = try await sql.select().column("*").from("notification_deliveries")
            .where("notification_id", .equal, SQLBind(id)).orderBy("id").all()
        let deliveryIDs = try deliveryRows.map { try $0.decode(column: "id", as: String.self) }
        var attempts: [String: [DeliveryAttempt]] = [:]
        if !deliveryIDs.isEmpty {
            for attemptRow in try await sql.select().column("*").from("delivery_attempts")
                .where("delivery_id", .in, SQLBind.group(deliveryIDs)).orderBy("id").all()
            {
                let attempt = try rows.attempt(from: attemptRow)
                attempts[attempt.deliveryID, default: []].append(attempt)
            }
        }
        let deliveries = try deliveryRows.map { row in
            let deliveryID = try row.decode(column: "id", as: String.self)
            return try NotificationRows.delivery(from: row, attempts: attempts[deliveryID] ?? [])
        }
        return try rows.notification(from: row, deliveries: deliveries)
    }

    struct Filter: Sendable {
        var userID: String?
        /// Only notifications with an in-app delivery: a customer's inbox.
        var inAppOnly = false
        var read: Bool?
        var category: String?
        /// Notifications with at least one delivery in this status (and on `channel`, when given).
        var status: DeliveryStatus?
        var channel: Channel?
    }

    /// A page of notifications in creation order, each with its deliveries (attempts are on the single read).
    func notifications(_ filter: Filter, page: PageRequest) async throws -> [Notification] {
        try await database.read { sql in
            let query = sql.select().column("*").from("notifications")
            if let userID = filter.userID { query.where("user_id", .equal, SQLBind(userID)) }
            if let category = filter.category { query.where("category", .equal, SQLBind(category)) }
            if let read = filter.read { query.where("read_at", read ? .isNot : .is, SQLLiteral.null) }
            if filter.inAppOnly { query.where(Self.hasDelivery(status: nil, channel: .inApp)) }
            if filter.status != nil || filter.channel != nil {
                query.where(Self.hasDelivery(status: filter.status, channel: filter.channel))
            }
            if let after = page.after { query.where("id", .greaterThan, SQLBind(after)) }
            let found = try await query.orderBy("id").limit(page.limit + 1).all()
            let ids = try found.map { try $0.decode(column: "id", as: String.self) }
            var deliveries: [String: [Delivery]] = [:]
            if !ids.isEmpty {
                for row in try await sql.select().column("*").from("notification_deliveries")
                    .where("notification_id", .in, SQLBind.group(ids)).orderBy("id").all()
                {
                    let delivery = try NotificationRows.delivery(from: row)
                    deliveries[delivery.notificationID, default: []].append(delivery)
                }
            }
            return try found.map { row in
                try rows.notification(from: row, deliveries: deliveries[try row.decode(column: "id", as: String.self)] ?? [])
            }
        }
    }

    /// `EXISTS` a delivery of the notification in this status and on this channel.
    static func hasDelivery(status: DeliveryStatus?, channel: Channel?) -> SQLQueryString {
        var condition: SQLQueryString =
            "EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.notification_id = notifications.id"
        if let status {
            condition.appendLiteral(" AND d.status = ")
            condition.appendInterpolation(bind: status.rawValue)
        }
        if let channel {
            condition.appendLiteral(" AND d.channel = ")
            condition.appendInterpolation(bind: channel.rawValue)
        }
        condition.appendLiteral(")")
        return condition
    }

    /// Dead deliveries, oldest first, each with the notification it belongs to.
    func deadLetters(page: PageRequest) async throws -> [Delivery] {
        try await database.read { sql in
            let query = sql.select().column("*").from("notification_deliveries")
                .where("status", .equal, SQLBind(DeliveryStatus.dead.rawValue))
            if let after = page.after { query.where("id", .greaterThan, SQLBind(after)) }
            return try await query.orderBy("id").limit(page.limit + 1).all().map { try NotificationRows.delivery(from: $0) }
        }
    }

    /// Marks a notification read (the first time only); returns whether it changed.
    func markRead(id: String, now: Date, on sql: any SQLDatabase) async throws -> Bool {
        let changed = try await sql.update("notifications").set("read_at", to: SQLBind(Timestamp.micros(now)))
            .where("id", .equal, SQLBind(id)).where("read_at", .is, SQLLiteral.null)
            .returning("id").all()
        return !changed.isEmpty
    }

    /// Puts the notification's dead deliveries back in the queue with a fresh attempt budget; their history
    /// stays. Returns the ids re-queued.
    func requeueDead(notificationID: String, now: Date, on sql: any SQLDatabase) async throws -> [String] {
        try await sql.update("notification_deliveries")
            .set("status", to: SQLBind(DeliveryStatus.queued.rawValue))
            .set("attempts", to: SQLBind(Int64(0)))
            .set("next_attempt_at", to: SQLBind(Timestamp.micros(now)))
            .set("queued_at", to: SQLBind(Timestamp.micros(now)))
            // The re-send's attempts continue the trace of the request that asked for it.
            .set("traceparent", to: SQLBind(QueuedWorkSpan.currentTraceparent()))
            .set("updated_at", to: SQLBind(Timestamp.micros(now)))
            .set("lease_token", to: SQLLiteral.null).set("lease_expires_at", to: SQLLiteral.null)
            .where("notification_id", .equal, SQLBind(notificationID))
            .where("status", .equal, SQLBind(DeliveryStatus.dead.rawValue))
            .returning("id").all().map { try $0.decode(column: "id", as: String.self) }
    }
}
