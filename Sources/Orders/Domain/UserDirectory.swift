/// Answers whether a user exists; orders may only be placed for existing users. The users service owns
/// accounts, so the production directory asks it over HTTP (`HTTPUserDirectory`).
public protocol UserDirectory: Sendable {
    /// True when the user exists, false when the directory says it does not. Throws when the directory cannot
    /// answer (unreachable: `ServiceClient.Unavailable`); the route then answers 503 rather than guessing.
    func exists(userID: String, requestID: String) async throws -> Bool
}
