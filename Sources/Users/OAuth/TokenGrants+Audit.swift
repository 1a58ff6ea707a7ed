import MeridianKit
import SQLKit

extension TokenGrants {
    /// One grant's transaction with its `token.issue` record appended to it. A refused grant is recorded too
    /// (outcome `failure`): its transaction changed something as well, a code spent or a token family revoked.
    /// Never records a token, a code or a verifier.
    func auditedTransaction(
        grant: String, clientID: String, subject: String,
        _ body: (any SQLDatabase) async throws -> Outcome
    ) async throws -> Outcome {
        try await database.transaction { sql in
            let outcome = try await body(sql)
            guard let audit else { return outcome }
            let caller = AuditActor.current ?? .system("users")
            let event: AuditEvent
            let actor: AuditActor
            switch outcome {
            case .success(let tokens):
                actor = caller.acting(as: subject, clientID: clientID)
                event = AuditEvent(
                    action: "token.issue", resourceType: "token", resourceID: subject,
                    changes: .object([
                        "grant_type": .string(grant), "client_id": .string(clientID), "scope": .string(tokens.scope),
                        "refresh_token": .bool(tokens.refreshToken != nil),
                    ]))
            case .failure(let error):
                actor = caller.acting(as: nil, clientID: clientID)
                event = AuditEvent(
                    action: "token.issue", resourceType: "token", resourceID: subject, outcome: .failure,
                    changes: .object([
                        "grant_type": .string(grant), "client_id": .string(clientID),
                        "error": .string(error.code.rawValue),
                    ]))
            }
            try await audit.append(event, actor: actor, on: sql)
            return outcome
        }
    }
}
