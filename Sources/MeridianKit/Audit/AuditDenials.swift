import Foundation
import Hummingbird
import Logging
import SQLKit

/// A refusal by `AccessControlMiddleware`: the problem the client gets, and what the audit record says.
struct AccessRefusal: Error, Sendable {
    /// One of `RequestDenial.reasons`.
    let reason: String
    /// The verified caller of a 403; nil for a 401.
    let principal: Principal?
    let problem: Problem
}

/// Records refused requests (401, 403) in the service's own audit log as `request.deny` with outcome `denied`,
/// each in its own transaction. A failure to record is logged and swallowed: the client still gets its 401 or
/// 403, never a 500.
public struct AuditDenials: RequestDenialRecorder {
    public let log: AuditLog
    public let database: any Database
    let logger: Logger

    public init(log: AuditLog, database: any Database, logger: Logger) {
        self.log = log
        self.database = database
        self.logger = logger
    }

    public func record(_ denial: RequestDenial) async {
        do {
            try await database.transaction { sql in try await append([denial], on: sql) }
        } catch {
            logger.error(
                "could not record a refused request in the audit log",
                metadata: ["route": .string(denial.route), "error": .string(String(describing: error))])
        }
    }

    /// Appends `denials` in the caller's transaction, in order.
    public func append(_ denials: [RequestDenial], on sql: any SQLDatabase) async throws {
        for denial in denials { try await log.append(denial.event, actor: denial.actor, on: sql) }
    }
}
