/// Answers whether a user exists; orders may only be placed for existing users. The users service owns
/// accounts, so the production directory asks it over HTTP (`HTTPUserDirectory`).
public protocol UserDirectory: Sendable {
    /// True when the user exists, false when the directory says it does not. Throws when the directory cannot
    /// answer (unreachable: `ServiceClient.Unavailable`); the route then answers 503 rather than guessing.
    /// `authorization` is the caller's own `Authorization` header, forwarded so that the users service
    /// answers with the caller's rights (a customer can confirm only their own account).
    func exists(userID: String, requestID: String, authorization: String?) async throws -> Bool
}
