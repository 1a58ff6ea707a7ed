import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import NIOCore
import SQLKit
import Testing

@testable import Users

/// Runs `test` against a users service on a fresh database of `engine`, through the router test framework
/// (which runs the database service and the migrations first). A PostgreSQL schema is dropped afterwards.
///
/// The client sends an administrator's access token with every request that has no Authorization header of
/// its own (`client.anonymous` sends none), so route tests exercise the handlers behind the access table.
func withUsersService<T: Sendable>(
    _ engine: DatabaseEngine,
    _ test: @Sendable (AuthorizedClient, UsersService) async throws -> T
) async throws -> T {
    try await withRawUsersService(engine) { client, service in
        let token = try await mintAccessToken(service, roles: [BuiltInRole.admin.rawValue])
        return try await test(AuthorizedClient(base: client, bearer: token), service)
    }
}

/// A users service whose client sends exactly what the test says: the OAuth flows and the access rules.
func withRawUsersService<T: Sendable>(
    _ engine: DatabaseEngine, selfRegistration: Bool = false,
    configure: @Sendable (inout AuthorizationServerSettings) -> Void = { _ in },
    now: @escaping @Sendable () -> Date = Date.init,
    _ test: @Sendable (any TestClientProtocol, UsersService) async throws -> T
) async throws -> T {
    var logger = Logger(label: "users-tests")
    logger.logLevel = .warning
    let settings = ServiceSettings(
        name: UsersService.name, listen: ListenAddress(host: "127.0.0.1", port: 0),
        databaseURL: TestDatabase.url(engine, service: UsersService.name)
    ).withTestMasterKey()
    // bcrypt's minimum cost keeps the suite fast; the cost itself has its own tests.
    let service = try UsersService(
        settings: settings, logger: logger, bcryptCost: 4, issuer: testIssuer, selfRegistration: selfRegistration,
        configure: configure, now: now)
    let result: T
    do {
        result = try await service.makeApplication().test(.router) { client in try await test(client, service) }
    } catch {
        try? await TestDatabase.drop(settings.databaseURL)
        throw error
    }
    // Dropped once the service has stopped, never under its background jobs (TestDatabase.drop says why).
    try await TestDatabase.drop(settings.databaseURL)
    return result
}

let testIssuer = "https://meridian.test"

/// Sends an `Authorization: Bearer` token with every request that carries no Authorization header itself.
struct AuthorizedClient: TestClientProtocol {
    let base: any TestClientProtocol
    let bearer: String

    var port: Int? { base.port }
    /// The same service without the token.
    var anonymous: any TestClientProtocol { base }

    func executeRequest(
        uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?
    ) async throws -> TestResponse {
        var headers = headers
        if headers[.authorization] == nil { headers[.authorization] = "Bearer \(bearer)" }
        return try await base.executeRequest(uri: uri, method: method, headers: headers, body: body)
    }
}

/// An access token signed with the service's own keyring, for route tests that are about the routes rather
/// than about how tokens are obtained (the OAuth tests obtain theirs through the real flow).
func mintAccessToken(
    _ service: UsersService, subject: String = Identifier.make(prefix: User.idPrefix), roles: [String],
    permissions: Set<Permission>? = nil, clientID: String = OAuthClient.cliID
) async throws -> String {
    let granted = permissions ?? roles.reduce(into: Set<Permission>()) { set, role in
        set.formUnion(BuiltInRole(rawValue: role)?.permissions ?? [])
    }
    let now = Date()
    let claims = AccessTokenClaims(
        issuer: service.issuer, subject: subject, issuedAt: now, expiresAt: now.addingTimeInterval(600),
        tokenID: Identifier.make(prefix: "tok"), clientID: clientID, scope: "api", roles: roles,
        permissions: granted.sorted())
    return try await service.keyring.signer().sign(claims)
}

func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

let jsonHeaders: HTTPFields = [.contentType: "application/json"]

/// Sorted keys, so that sending one dictionary twice sends the same bytes (as a client retrying would).
func jsonBody(_ object: [String: Any]) throws -> ByteBuffer {
    ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
}

func object(_ response: TestResponse) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
}

/// The `field` of every entry of a problem's `errors`.
func errorFields(_ response: TestResponse) throws -> [String] {
    let errors = try #require(try object(response)["errors"] as? [[String: Any]])
    return errors.compactMap { $0["field"] as? String }
}

func errorMessages(_ response: TestResponse, field: String) throws -> [String] {
    let errors = try #require(try object(response)["errors"] as? [[String: Any]])
    return errors.filter { $0["field"] as? String == field }.compactMap { $0["message"] as? String }
}

/// Sends one request; the helpers below name the common ones.
extension TestClientProtocol {
    func createUser(
        email: String, name: String = "Ada Lovelace", password: String = "correct horse battery",
        headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var fields = jsonHeaders
        fields.append(contentsOf: headers)
        return try await execute(
            uri: "/api/users", method: .post, headers: fields,
            body: try jsonBody(["email": email, "name": name, "password": password]))
    }

    /// Creates a user and returns its id, failing the test unless the create succeeded.
    func createdUserID(email: String, name: String = "Ada Lovelace") async throws -> String {
        let response = try await createUser(email: email, name: name)
        #expect(response.status == .created)
        return try #require(try object(response)["id"] as? String)
    }

    func patchUser(_ id: String, _ fields: [String: Any], ifMatch: String? = nil) async throws -> TestResponse {
        var headers = jsonHeaders
        if let ifMatch { headers[.ifMatch] = ifMatch }
        return try await execute(
            uri: "/api/users/\(id)", method: .patch, headers: headers, body: try jsonBody(fields))
    }

    func get(_ uri: String) async throws -> TestResponse {
        try await execute(uri: uri, method: .get)
    }
}

/// Reads a user's stored row directly, bypassing the API.
func storedRow(_ service: UsersService, id: String) async throws -> [String: String] {
    try await service.database.read { sql in
        guard let row = try await sql.select().column("*").from("users").where("id", .equal, SQLBind(id)).first()
        else { return [:] }
        var values: [String: String] = [:]
        // The plaintext columns only: email and name are ciphertext at rest (email_index is their blind index).
        for column in ["id", "email_index", "password_hash", "roles"] {
            values[column] = try row.decode(column: column, as: String.self)
        }
        values["version"] = String(try row.decode(column: "version", as: Int64.self))
        return values
    }
}

func userCount(_ service: UsersService) async throws -> Int {
    try await service.database.read { sql in
        try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("users").first()?
            .decode(column: "n", as: Int.self) ?? 0
    }
}
