import Foundation
import Hummingbird
import Logging

/// A refusal by `AccessControlMiddleware`: the problem the client gets, and what the audit record says.
struct AccessRefusal: Error, Sendable {
    /// `unauthenticated`, `invalid-token`, `insufficient-permission` or `route-not-permitted`.
    let reason: String
    /// The verified caller of a 403; nil for a 401.
    let principal: Principal?
    let problem: Problem
}

/// Records the requests `AccessControlMiddleware` refuses (401, 403) as `request.deny` with outcome `denied`,
/// each in its own transaction. A failure to record is logged and swallowed: the client still gets its 401 or
/// 403, never a 500.
public struct AuditDenials: Sendable {
    public let log: AuditLog
    public let database: any Database
    let logger: Logger

    public init(log: AuditLog, database: any Database, logger: Logger) {
        self.log = log
        self.database = database
        self.logger = logger
    }

    func record(_ refusal: AccessRefusal, route: String, context: MeridianRequestContext) async {
        var refused = context
        refused.principal = refusal.principal
        let actor = AuditActor(context: refused)
        let event = AuditEvent(
            action: "request.deny", resourceType: "route", resourceID: route, outcome: .denied,
            changes: .object([
                "status": .integer(Int64(refusal.problem.status.code)), "reason": .string(refusal.reason),
            ]))
        do {
            try await database.transaction { sql in try await log.append(event, actor: actor, on: sql) }
        } catch {
            logger.error(
                "could not record a refused request in the audit log",
                metadata: ["route": .string(route), "error": .string(String(describing: error))])
        }
    }
}
