import Foundation
import HTTPTypes
import Hummingbird
import MeridianKit

/// A user as the API shows it. No password field exists here, so none can leak; the version travels as the
/// ETag rather than in the body.
struct UserResource: Encodable, Sendable {
    let id: String
    let email: String
    let name: String
    let roles: [String]
    let createdAt: Date
    let updatedAt: Date

    init(_ user: User) {
        id = user.id
        email = user.email
        name = user.name
        roles = user.roles
        createdAt = user.createdAt
        updatedAt = user.updatedAt
    }

    static func path(of id: String) -> String { "/api/users/\(id)" }

    /// A single user with its ETag (and `Location` when it was just created).
    static func response(_ user: User, status: HTTPResponse.Status = .ok) throws -> Response {
        var headers: HTTPFields = [.eTag: EntityTag.make(version: user.version)]
        if status == .created { headers[.location] = path(of: user.id) }
        return try Response.json(UserResource(user), status: status, headers: headers)
    }
}

enum UserProblems {
    static let emailTakenType = Problem.typeBase + "email-taken"

    /// The address is not echoed: the problem may end up in logs, and the client knows what it sent.
    static let emailTaken = Problem(
        .conflict, type: emailTakenType, title: "Email taken",
        detail: "Another account already uses this email address.")

    static let notFound = Problem.notFound("The user")

    static let busy = Problem.conflict(
        "The user kept changing while this request tried to update it; fetch it again and retry.")
}
