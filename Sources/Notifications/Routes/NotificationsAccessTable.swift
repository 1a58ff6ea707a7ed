import MeridianKit

/// The one table of the notifications service: every route and the rule that lets a request reach its handler
/// (docs/identity.md). Deny by default: a route missing here is refused to everyone, and a test fails on it.
enum NotificationsAccessTable {
    /// Only the operational routes exist so far (email, Web Push and in-app messages come in later issues);
    /// every table marks those public (`RouteAccessTable.operationalRoutes`). Each new route gets its rule here.
    static let rules: RouteAccessTable = [:]
}
