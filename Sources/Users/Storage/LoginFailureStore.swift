import Foundation
import MeridianKit
import SQLKit

/// Failed sign-ins per subject (`account:<mac>` or `address:<mac>`), for `LoginThrottle`.
struct LoginFailureStore: Sendable {
    let database: any Database
    /// Where sign-ins are recorded (`user.login`), in the transaction that counts or clears the failures.
    var audit: AuditLog? = nil

    struct Record: Sendable, Equatable {
        let failures: Int
        let lastFailureAt: Date
    }

    func records(_ subjects: [String]) async throws -> [String: Record] {
        try await database.read { sql in
            var records: [String: Record] = [:]
            for row in try await sql.select().columns("subject", "failures", "last_failure_at").from("login_failures")
                .where("subject", .in, subjects).all()
            {
                records[try row.decode(column: "subject", as: String.self)] = Record(
                    failures: Int(try row.decode(column: "failures", as: Int64.self)),
                    lastFailureAt: Timestamp.date(micros: try row.decode(column: "last_failure_at", as: Int64.self)))
            }
            return records
        }
    }

    /// Counts one more failure for each subject; a count whose last failure is older than `window` starts over.
    func recordFailure(
        _ subjects: [String], now: Date, window: TimeInterval, userID: String? = nil
    ) async throws {
        let micros = Timestamp.micros(now)
        let staleBefore = micros - Int64(window * 1_000_000)
        try await database.transaction { sql in
            for subject in subjects {
                // One statement, so concurrent failures of one subject all count (both engines take this form).
                try await sql.raw(
                    """
                    INSERT INTO login_failures (subject, failures, last_failure_at) VALUES (\(bind: subject), 1, \(bind: micros))
                    ON CONFLICT (subject) DO UPDATE SET
                        failures = CASE WHEN login_failures.last_failure_at < \(bind: staleBefore) THEN 1
                                        ELSE login_failures.failures + 1 END,
                        last_failure_at = \(bind: micros)
                    """
                ).run()
            }
            if Int.random(in: 0..<100) == 0 {
                try await sql.delete(from: "login_failures").where("last_failure_at", .lessThan, SQLBind(staleBefore)).run()
            }
            // The account, when the address named one; never the address or password that was tried.
            try await audit?.append(
                AuditEvent(action: "user.login", resourceType: "user", resourceID: userID, outcome: .failure), on: sql)
        }
    }

    /// Clears the account's failures after a successful sign-in of `userID`, recording it.
    func clear(_ subject: String, signedIn userID: String? = nil) async throws {
        try await database.transaction { sql in
            try await sql.delete(from: "login_failures").where("subject", .equal, SQLBind(subject)).run()
            if let audit, let userID {
                let actor = (AuditActor.current ?? .system("users")).acting(as: userID, clientID: nil)
                try await audit.append(
                    AuditEvent(action: "user.login", resourceType: "user", resourceID: userID), actor: actor, on: sql)
            }
        }
    }
}
