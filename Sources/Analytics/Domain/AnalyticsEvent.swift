import MeridianKit

/// Where an event came from.
enum EventSource: String, Sendable {
    /// `POST /api/analytics/events`.
    case api
    /// The Segment-compatible `/v1` routes.
    case segment
    /// The gateway's usage telemetry.
    case usage
    /// Another service's domain event, through the inbox.
    case domain
}

/// One validated event, ready to be stored and rolled up. What the rollups need (name, time, breakdown values,
/// latency) is derived here at ingestion, so that the stored properties can stay encrypted.
struct AnalyticsEvent: Sendable {
    /// The client's id (a UUID for the API, Segment's `messageId`): the unique key that drops duplicates.
    var id: String
    var name: String
    var userID: String?
    var anonymousID: String?
    /// When it happened (after clock-skew correction), microseconds since the epoch.
    var occurredAt: Int64
    var properties: JSONValue?
    var source: EventSource
    /// Breakdown values for the rollups: dimension name → value. Combined dimensions ("route,client") are listed
    /// as their own entry.
    var dimensions: [(dimension: String, value: String)] = []
    /// For usage telemetry: the request's latency, recorded in the bucket's HDR histogram.
    var latencyMicros: UInt64?
    /// Counted in the bucket's errors (usage telemetry: a 5xx answer).
    var isError = false

    /// The user the event counts towards: the user id when known, otherwise the anonymous id.
    var distinctID: String { userID ?? anonymousID ?? "" }
}
