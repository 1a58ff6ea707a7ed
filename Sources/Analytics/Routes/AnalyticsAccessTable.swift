import MeridianKit

/// The one table of the analytics service: every route and the rule that lets a request reach its handler
/// (docs/identity.md). Deny by default: a route missing here is refused to everyone, and a test fails on it.
enum AnalyticsAccessTable {
    static let rules: RouteAccessTable = RouteAccessTable([
        // The audit log is read-only through the API (docs/audit.md).
        "GET /api/audit/analytics": .anyOf([.auditRead]),
        // Ingestion by trusted backends and the gateway's service token.
        "POST /api/analytics/events": .anyOf([.analyticsWrite]),
        "POST /internal/analytics/usage": .anyOf([.analyticsWrite]),
        "POST /internal/analytics/denials": .anyOf([.analyticsWrite]),
        // Segment's tracking API: the write key (HTTP Basic) is the credential, checked by the handler.
        "POST /v1/batch": .public,
        "POST /v1/track": .public,
        "POST /v1/identify": .public,
        "POST /v1/page": .public,
        // Queries.
        "GET /api/analytics/metrics": .anyOf([.analyticsRead]),
        "GET /api/analytics/usage": .anyOf([.analyticsRead]),
        "GET /api/analytics/funnels": .anyOf([.analyticsRead]),
        "GET /api/analytics/events": .anyOf([.analyticsRead]),
        // Erasure deletes data, so it takes the write permission: `support` reads everything but erases nothing.
        "DELETE /api/analytics/users/{id}": .anyOf([.analyticsWrite]),
        "POST /api/analytics/write-keys": .anyOf([.analyticsWrite]),
        "GET /api/analytics/write-keys": .anyOf([.analyticsWrite]),
        "DELETE /api/analytics/write-keys/{id}": .anyOf([.analyticsWrite]),
    ]).merging(EventReceiver.accessRules)
}
