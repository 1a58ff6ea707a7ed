import Foundation
import MeridianKit

/// Where a user's email address comes from: the users service owns it, and the notifications service asks for
/// it at delivery time (so a changed address is used, and none is copied here).
protocol RecipientDirectory: Sendable {
    /// The address, nil when the user does not exist; throws when the directory cannot say.
    func emailAddress(userID: String) async throws -> String?
}

/// Asks the users service `GET /api/users/{id}` with the service's client-credentials token.
struct UsersServiceDirectory: RecipientDirectory {
    let client: ServiceClient
    let tokens: any ServiceTokenSource

    struct UnexpectedReply: Error {
        let status: Int
    }

    func emailAddress(userID: String) async throws -> String? {
        guard Identifier.isWellFormed(userID, prefix: "usr") else { return nil }
        let token = try await tokens.token()
        let reply = try await client.send(.GET, "/api/users/\(userID)", headers: [("Authorization", "Bearer \(token)")])
        switch reply.status {
        case 200:
            guard case .object(let members) = try JSONValue.parse(reply.body.readableBytesView),
                case .string(let email)? = members["email"]
            else { throw UnexpectedReply(status: 200) }
            return email
        case 404: return nil
        case 401:
            await tokens.invalidate(token)
            throw UnexpectedReply(status: 401)
        default: throw UnexpectedReply(status: reply.status)
        }
    }
}
