import MeridianKit

/// The one table of the analytics service: every route and the rule that lets a request reach its handler
/// (docs/identity.md). Deny by default: a route missing here is refused to everyone, and a test fails on it.
enum AnalyticsAccessTable {
    /// Only the operational routes exist so far (usage telemetry, product events, rollups and queries come in
    /// later issues); every table marks those public (`RouteAccessTable.operationalRoutes`). Each new route
    /// gets its rule here.
    static let rules: RouteAccessTable = [:]
}
