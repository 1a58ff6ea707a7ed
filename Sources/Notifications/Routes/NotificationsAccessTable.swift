import MeridianKit

/// The one table of the notifications service: every route and the rule that lets a request reach its handler
/// (docs/identity.md). Deny by default: a route missing here is refused to everyone, and a test fails on it.
///
/// `:own` variants let a request in; the handlers then narrow it to the subject's own notifications,
/// preferences and subscriptions (`NotificationAccess`), and someone else's are 404.
enum NotificationsAccessTable {
    static let read = RouteAccess.anyOf([.notificationsRead, .notificationsReadOwn])
    static let writeOwn = RouteAccess.anyOf([.notificationsWriteOwn, .notificationsManage])
    static let manage = RouteAccess.anyOf([.notificationsManage])

    static let rules: RouteAccessTable = ([
        // The audit log is read-only through the API (docs/audit.md).
        "GET /api/audit/notifications": .anyOf([.auditRead]),
        "POST /api/notifications": .anyOf([.notificationsSend]),
        "GET /api/notifications": read,
        "GET /api/notifications/dead-letters": .anyOf([.notificationsRead, .notificationsManage]),
        "GET /api/notifications/{id}": read,
        "POST /api/notifications/{id}/read": writeOwn,
        "POST /api/notifications/{id}/retry": manage,
        "GET /api/notification-templates": .anyOf([.notificationsRead, .notificationsSend, .notificationsManage]),
        "GET /api/notification-templates/{id}": .anyOf([.notificationsRead, .notificationsSend, .notificationsManage]),
        "POST /api/notification-templates": manage,
        "PUT /api/notification-templates/{id}": manage,
        "DELETE /api/notification-templates/{id}": manage,
        "GET /api/notification-preferences/{user_id}": read,
        "PUT /api/notification-preferences/{user_id}": writeOwn,
        // The key is for subscribing a browser, so it takes what subscribing takes.
        "GET /api/push-subscriptions/vapid-public-key": writeOwn,
        "POST /api/push-subscriptions": writeOwn,
        "GET /api/push-subscriptions": read,
        "DELETE /api/push-subscriptions/{id}": writeOwn,
    ] as RouteAccessTable).merging(EventReceiver.accessRules)
}

/// How far the caller reaches: every user's notifications, or only their own.
struct NotificationAccess {
    let principal: Principal

    init(_ context: MeridianRequestContext) throws { principal = try context.requirePrincipal() }

    /// Reading: `notifications:read` reaches all, `notifications:read:own` the subject's own.
    var read: OwnershipScope { principal.ownership(of: .notificationsRead) }

    /// Acting on one's own (marking read, preferences, subscriptions): `notifications:manage` reaches all.
    var write: OwnershipScope {
        if principal.has(.notificationsManage) { return .all }
        if principal.has(.notificationsWriteOwn) { return .own(principal.subject) }
        return .none
    }

    var isStaff: Bool { read == .all }
}
