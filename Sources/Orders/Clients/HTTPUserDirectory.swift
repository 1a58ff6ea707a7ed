import MeridianKit
import NIOHTTP1

/// The user directory of a running platform: asks the users service `GET /api/users/{id}`.
struct HTTPUserDirectory: UserDirectory {
    let client: ServiceClient

    /// The users service answered something other than found or not found (an error of its own, or a refusal):
    /// the directory cannot say, so the caller must not decide either way.
    struct UnexpectedReply: Error {
        let status: Int
    }

    func exists(userID: String, requestID: String, authorization: String?) async throws -> Bool {
        // Only a well-formed id can name a user; checking the shape also keeps the value safe in the URL path.
        guard Identifier.isWellFormed(userID, prefix: "usr") else { return false }
        let headers = authorization.map { [("Authorization", $0)] } ?? []
        let reply = try await client.send(.GET, "/api/users/\(userID)", headers: headers, requestID: requestID)
        switch reply.status {
        case 200: return true
        case 404: return false
        default: throw UnexpectedReply(status: reply.status)
        }
    }
}
