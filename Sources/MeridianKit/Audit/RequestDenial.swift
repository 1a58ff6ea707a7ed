import Foundation

/// A request refused with 401 or 403 by an access check, as the audit log records it (`request.deny`, outcome
/// `denied`). A service records its own refusals; the gateway, which keeps no database, reports the ones it
/// makes to analytics, which records them with `reportedBy` set.
public struct RequestDenial: Sendable, Equatable {
    /// The method and route template: `GET /api/orders/{id}`.
    public var route: String
    public var status: Int
    /// `unauthenticated`, `invalid-token`, `insufficient-permission` or `route-not-permitted`.
    public var reason: String
    /// The caller as far as it is known (a 401 has no subject), with the request's id, trace and source.
    public var actor: AuditActor
    /// The process that refused the request when it is not the one recording it.
    public var reportedBy: String?
    /// When it was refused, for a reported denial (the record's own time is when it was written).
    public var deniedAt: Date?
    /// A reported denial stands for `count` alike refusals (same route, status, reason, caller and source)
    /// between `deniedAt` and `lastDeniedAt`: a flood of bad tokens is one record per reporting window, not one
    /// per request. The request id is the first one's.
    public var count: Int
    public var lastDeniedAt: Date?

    public static let reasons: Set<String> = [
        "unauthenticated", "invalid-token", "insufficient-permission", "route-not-permitted",
    ]

    public init(
        route: String, status: Int, reason: String, actor: AuditActor, reportedBy: String? = nil,
        deniedAt: Date? = nil, count: Int = 1, lastDeniedAt: Date? = nil
    ) {
        self.route = route
        self.status = status
        self.reason = reason
        self.actor = actor
        self.reportedBy = reportedBy
        self.deniedAt = deniedAt
        self.count = count
        self.lastDeniedAt = lastDeniedAt
    }

    /// The audit event: the route is the resource; the status, the reason and, for a reported denial, the
    /// reporter and the time of the refusal are its change set.
    public var event: AuditEvent {
        var changes: [String: JSONValue] = ["status": .integer(Int64(status)), "reason": .string(reason)]
        if let reportedBy { changes["reported_by"] = .string(reportedBy) }
        if let deniedAt { changes["denied_at"] = .string(Timestamp.format(deniedAt)) }
        if count > 1 {
            changes["count"] = .integer(Int64(count))
            if let lastDeniedAt { changes["last_denied_at"] = .string(Timestamp.format(lastDeniedAt)) }
        }
        return AuditEvent(
            action: "request.deny", resourceType: "route", resourceID: route, outcome: .denied,
            changes: .object(changes))
    }
}

/// Where `AccessControlMiddleware` sends the requests it refuses. Recording must never change the answer: a
/// recorder that fails logs it and returns.
public protocol RequestDenialRecorder: Sendable {
    func record(_ denial: RequestDenial) async
}
