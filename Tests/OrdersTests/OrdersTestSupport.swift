import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import NIOCore
import Synchronization
import Testing

@testable import Orders

/// The one test double of this suite: a user directory that knows a fixed set of users. Everything else
/// (database, provider, middleware) is real; the HTTP directory is exercised by the system tests, and its
/// unreachable case here against a closed port.
final class InMemoryUserDirectory: UserDirectory {
    private let users: Set<String>
    private let asked = Mutex<[String]>([])

    init(_ users: Set<String>) {
        self.users = users
    }

    /// The user ids the service asked about, in order.
    var questions: [String] { asked.withLock { $0 } }

    func exists(userID: String, requestID: String, authorization: String?) async throws -> Bool {
        asked.withLock { $0.append(userID) }
        return users.contains(userID)
    }
}

/// A running orders service on a fresh database, with the handles tests need.
struct OrdersHarness: Sendable {
    /// Sends every request as an administrator (every permission), so that tests of the order rules are not
    /// about access; `client(as:subject:)` and `anonymous` are for the tests that are.
    let client: BearerClient
    /// Sends requests without a token.
    let anonymous: any TestClientProtocol
    let tokens: TestTokens
    let service: OrdersService
    let provider: TestPaymentProvider
    let users: InMemoryUserDirectory
    /// A user the directory knows.
    let userID: String

    /// A client presenting a fresh token of `role` for `subject`.
    func client(as role: BuiltInRole, subject: String) async throws -> BearerClient {
        BearerClient(anonymous, token: try await tokens.token(role, subject: subject))
    }

    /// A client presenting `token` (nil: none).
    func client(token: String?) -> BearerClient { BearerClient(anonymous, token: token) }
}

/// The subject of the harness's administrator token.
let adminID = Identifier.make(prefix: "usr")

/// Runs `test` against an orders service on a fresh database of `engine`, through the router test framework
/// (which runs the database service and the migrations first). A PostgreSQL schema is dropped afterwards unless
/// `keepDatabase` (for a test that runs a second service on the same `databaseURL`, which must pass the same
/// `masterKey`: the data keys stored in the database unwrap only under the key that wrapped them).
/// `paymentProvider` wraps the harness's `TestPaymentProvider` when a test needs to interfere with it.
func withOrdersService<T: Sendable>(
    _ engine: DatabaseEngine,
    databaseURL: String? = nil,
    keepDatabase: Bool = false,
    masterKey: MasterKey? = nil,
    paymentProvider: (@Sendable (TestPaymentProvider) -> any PaymentProvider)? = nil,
    _ test: @Sendable (OrdersHarness) async throws -> T
) async throws -> T {
    let provider = TestPaymentProvider()
    let userID = Identifier.make(prefix: "usr")
    let users = InMemoryUserDirectory([userID, otherUserID])
    let tokens = await TestTokens.make()
    let admin = try await tokens.token(.admin, subject: adminID)
    var settings = orderSettings(engine)
    if let databaseURL { settings.databaseURL = databaseURL }
    if let masterKey { settings.masterKey = masterKey }
    let service = try OrdersService(
        settings: settings, logger: quietLogger(), paymentProvider: paymentProvider?(provider) ?? provider,
        userDirectory: users, verifier: tokens.verifier)
    let result: T
    do {
        result = try await service.makeApplication().test(.router) { client in
            try await test(
                OrdersHarness(
                    client: BearerClient(client, token: admin), anonymous: client, tokens: tokens, service: service,
                    provider: provider, users: users, userID: userID))
        }
    } catch {
        try? await TestDatabase.drop(settings.databaseURL)
        throw error
    }
    // Dropped once the service has stopped, never under its background jobs (TestDatabase.drop says why).
    if !keepDatabase { try await TestDatabase.drop(settings.databaseURL) }
    return result
}

/// A second known user, for list filters.
let otherUserID = Identifier.make(prefix: "usr")

func orderSettings(_ engine: DatabaseEngine, serviceURLs: [String: String] = [:]) -> ServiceSettings {
    ServiceSettings(
        name: OrdersService.name, listen: ListenAddress(host: "127.0.0.1", port: 0),
        databaseURL: TestDatabase.url(engine, service: OrdersService.name), serviceURLs: serviceURLs,
        issuer: TestTokens.issuer
    ).withTestMasterKey()
}

func quietLogger() -> Logger {
    var logger = Logger(label: "orders-tests")
    logger.logLevel = .critical
    return logger
}

// MARK: - Request bodies

let jsonHeaders: HTTPFields = [.contentType: "application/json"]

func jsonBody(_ object: [String: Any]) throws -> ByteBuffer {
    ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
}

func item(sku: String = "SKU-1", name: String = "Widget", quantity: Int = 2, unitPrice: Int = 1250) -> [String: Any] {
    ["sku": sku, "name": name, "quantity": quantity, "unit_price": unitPrice]
}

func address() -> [String: Any] {
    ["name": "Ada Lovelace", "line1": "1 Main St", "city": "London", "postal_code": "N1 9GU", "country": "GB"]
}

func orderBody(userID: String, currency: String = "EUR", items: [[String: Any]] = [item()]) -> [String: Any] {
    ["user_id": userID, "currency": currency, "items": items, "shipping_address": address()]
}

// MARK: - Reading responses

func object(_ response: TestResponse) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
}

/// The `data` of a list response.
func listed(_ response: TestResponse) throws -> [[String: Any]] {
    try #require(try object(response)["data"] as? [[String: Any]])
}

/// The `field` of every entry of a problem's `errors`.
func errorFields(_ response: TestResponse) throws -> [String] {
    let errors = try #require(try object(response)["errors"] as? [[String: Any]])
    return errors.compactMap { $0["field"] as? String }
}

func problemType(_ response: TestResponse) throws -> String? {
    try object(response)["type"] as? String
}

// MARK: - Requests

extension TestClientProtocol {
    func createOrder(_ body: [String: Any], headers: HTTPFields = [:]) async throws -> TestResponse {
        var fields = jsonHeaders
        fields.append(contentsOf: headers)
        return try await execute(uri: "/api/orders", method: .post, headers: fields, body: try jsonBody(body))
    }

    /// Places an order for `userID` and returns its id, failing the test unless it was created.
    func placedOrderID(userID: String, items: [[String: Any]] = [item()]) async throws -> String {
        let response = try await createOrder(orderBody(userID: userID, items: items))
        #expect(response.status == .created)
        return try #require(try object(response)["id"] as? String)
    }

    func pay(_ orderID: String, method: String = "tok_visa", headers: HTTPFields = [:]) async throws -> TestResponse {
        var fields = jsonHeaders
        fields.append(contentsOf: headers)
        return try await execute(
            uri: "/api/orders/\(orderID)/payments", method: .post, headers: fields,
            body: try jsonBody(["payment_method": method]))
    }

    /// Places and pays an order, failing the test unless both succeeded.
    func paidOrderID(userID: String) async throws -> String {
        let id = try await placedOrderID(userID: userID)
        #expect(try await pay(id).status == .created)
        return id
    }

    func put(_ orderID: String, _ fields: [String: Any], ifMatch: String? = nil) async throws -> TestResponse {
        var headers = jsonHeaders
        if let ifMatch { headers[.ifMatch] = ifMatch }
        return try await execute(
            uri: "/api/orders/\(orderID)", method: .put, headers: headers, body: try jsonBody(fields))
    }

    func delete(_ orderID: String, ifMatch: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let ifMatch { headers[.ifMatch] = ifMatch }
        return try await execute(uri: "/api/orders/\(orderID)", method: .delete, headers: headers)
    }

    func get(_ uri: String) async throws -> TestResponse {
        try await execute(uri: uri, method: .get)
    }

    func status(ofOrder orderID: String) async throws -> String? {
        try object(try await get("/api/orders/\(orderID)"))["status"] as? String
    }

    /// `kind/status` of each of the order's payment attempts, oldest first.
    func attemptSummary(_ orderID: String) async throws -> [String] {
        try listed(try await get("/api/orders/\(orderID)/payments")).map { "\($0["kind"] ?? "")/\($0["status"] ?? "")" }
    }
}
