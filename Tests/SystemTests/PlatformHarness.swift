import Analytics
import AsyncHTTPClient
import Foundation
import Gateway
import Hummingbird
import Logging
import MeridianKit
import MeridianTestSupport
import NIOCore
import NIOHTTP1
import NIOSSL
import Notifications
import Orders
import ServiceLifecycle
import Synchronization
import Users

/// The whole platform, live on loopback ports, wired as `meridian serve` wires it: every service its own
/// TLS 1.3 listener and database, orders calling users over HTTPS, the gateway in front.
struct Platform: Sendable {
    /// Where each service's data lives; reusing it across runs is how restart tests work.
    struct Databases: Sendable {
        var urls: [String: String]
        /// The platform's master key: kept with the data, because a restart must unwrap the same data keys.
        var masterKey = TestMasterKey.make()

        static func fresh(_ engine: DatabaseEngine) -> Databases {
            Databases(
                urls: Dictionary(
                    uniqueKeysWithValues: ["users", "orders", "notifications", "analytics"].map {
                        ($0, TestDatabase.url(engine, service: $0))
                    }))
        }
    }

    let gatewayURL: String
    let serviceURLs: [String: String]
    /// An access token of the built-in admin, obtained through the real authorization-code flow.
    let adminToken: String

    static let adminPassword = "system-test-admin-password"

    /// A client of the gateway acting as the admin.
    var admin: APIClient { APIClient(baseURL: gatewayURL, token: adminToken) }
    /// A client of the gateway with no token.
    var anonymous: APIClient { APIClient(baseURL: gatewayURL, token: nil) }

    /// Starts the platform, runs `body`, then shuts it down gracefully.
    static func run<T: Sendable>(
        _ databases: Databases, _ body: @Sendable (Platform) async throws -> T
    ) async throws -> T {
        let logger = Logger(label: "system-test")
        let loopback = ListenAddress(host: "127.0.0.1", port: 0)
        // Before any service exists: their clients take the trusted CA when they are made.
        let tls = SystemTestTLS.shared
        func settings(_ name: String, _ urls: [String: String] = [:]) -> ServiceSettings {
            var settings = ServiceSettings(
                name: name, listen: loopback, databaseURL: databases.urls[name] ?? "", serviceURLs: urls)
            settings.tls = tls.certificate
            return settings.withTestMasterKey(databases.masterKey)
        }

        return try await withThrowingTaskGroup(of: Void.self) { group in
            var urls: [String: String] = [:]
            var running: [ServiceGroup] = []
            let stillRunning = RunningServices()
            // Start one application and wait until it listens; returns its base URL.
            func start(
                _ name: String, _ app: @escaping @Sendable (@escaping @Sendable (Int) async -> Void) -> any Service
            ) async throws -> String {
                let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
                let service = app { port in continuation.yield(port) }
                let serviceGroup = ServiceGroup(configuration: Platform.groupConfiguration(service, logger: logger))
                running.append(serviceGroup)
                stillRunning.insert(name)
                group.addTask {
                    // A service that stops before it listens (its migrations failed, say) ends the wait below
                    // instead of leaving it waiting for a port forever.
                    defer {
                        continuation.finish()
                        stillRunning.remove(name)
                    }
                    try await serviceGroup.run()
                }
                // Nor does one that neither listens nor stops: the wait ends after `startTimeout`, and leaving
                // the task group cancels it.
                let watchdog = Task {
                    try await Task.sleep(for: Platform.startTimeout)
                    continuation.finish()
                }
                defer { watchdog.cancel() }
                for await port in ports { return "https://127.0.0.1:\(port)" }
                if stillRunning.contains(name) {
                    throw StartFailure(description: "\(name) neither listened nor stopped within \(Platform.startTimeout)")
                }
                // It ended without listening: its error (the first child to end is this one) is the reason.
                try await group.next()
                throw StartFailure(description: "a service of the platform stopped before it listened")
            }

            let users = try UsersService(settings: settings("users"), logger: logger, bcryptCost: 4)
            urls["users"] = try await start("users") { users.makeApplication(onServerRunning: $0) }
            try await users.ensureAdmin(dataDirectory: TestDatabase.temporaryDirectory(), password: adminPassword)
            let orders = try OrdersService(settings: settings("orders", urls), logger: logger)
            urls["orders"] = try await start("orders") { orders.makeApplication(onServerRunning: $0) }
            let notifications = try NotificationsService(settings: settings("notifications", urls), logger: logger)
            urls["notifications"] = try await start("notifications") { notifications.makeApplication(onServerRunning: $0) }
            let analytics = try AnalyticsService(settings: settings("analytics", urls), logger: logger)
            urls["analytics"] = try await start("analytics") { analytics.makeApplication(onServerRunning: $0) }
            let gateway = try GatewayService(settings: settings("gateway", urls), logger: logger)
            let gatewayURL = try await start("gateway") { gateway.makeApplication(onServerRunning: $0) }

            // Stop as SIGTERM would: the gateway first, then the services, each draining its requests.
            // A service still draining after `maximumGracefulShutdown` is cancelled by its group; the names of
            // those not stopped by then are printed, so a slow or stuck shutdown shows in the test log.
            func stop() async throws {
                for serviceGroup in running.reversed() { await serviceGroup.triggerGracefulShutdown() }
                let watchdog = Task {
                    try await Task.sleep(for: Platform.maximumGracefulShutdown)
                    let names = stillRunning.names
                    guard !names.isEmpty else { return }
                    FileHandle.standardError.write(Data(
                        "system tests: \(names.joined(separator: ", ")) still running \(Platform.maximumGracefulShutdown) after graceful shutdown began: cancelled\n".utf8))
                }
                defer { watchdog.cancel() }
                try await group.waitForAll()
            }
            do {
                let token = try await SignIn(gatewayURL: gatewayURL).accessToken(
                    email: UsersService.adminEmail, password: adminPassword)
                let result = try await body(Platform(gatewayURL: gatewayURL, serviceURLs: urls, adminToken: token))
                try await stop()
                return result
            } catch {
                try? await stop()
                throw error
            }
        }
    }
}

/// The platform did not start; the service's own error, when it had one, is thrown instead.
extension Platform {
    /// How long a service may take to listen.
    static let startTimeout: Duration = .seconds(120)
    /// How long a service may take to stop gracefully before its group cancels it, as `meridian serve` does.
    static let maximumGracefulShutdown: Duration = .seconds(20)

    static func groupConfiguration(_ service: any Service, logger: Logger) -> ServiceGroupConfiguration {
        var configuration = ServiceGroupConfiguration(services: [service], logger: logger)
        configuration.maximumGracefulShutdownDuration = maximumGracefulShutdown
        return configuration
    }
}

/// The services of a platform run whose group has not returned yet.
final class RunningServices: Sendable {
    private let running = Mutex<Set<String>>([])
    func insert(_ name: String) { running.withLock { _ = $0.insert(name) } }
    func remove(_ name: String) { running.withLock { _ = $0.remove(name) } }
    func contains(_ name: String) -> Bool { running.withLock { $0.contains(name) } }
    var names: [String] { running.withLock { $0.sorted() } }
}

struct StartFailure: Error, CustomStringConvertible {
    let description: String
}

/// A small JSON client for the tests: real HTTP through AsyncHTTPClient.
struct APIClient: Sendable {
    let baseURL: String
    /// Sent as `Authorization: Bearer …` when present.
    var token: String?

    /// Redirects are answers to inspect here (the authorization endpoint's 302), never to follow. TLS 1.3,
    /// trusting the test CA only, with verification on, like any client of the platform.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.tlsConfiguration = PlatformTrust.clientConfiguration(trusting: SystemTestTLS.shared.roots)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    struct Reply: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let body: ByteBuffer

        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]) ?? [:]
        }
        var contentType: String? { headers.first(name: "Content-Type") }
    }

    func send(
        _ method: HTTPMethod, _ path: String, json: String? = nil, form: [(String, String)]? = nil,
        headers: [(String, String)] = []
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let json {
            request.body = .bytes(ByteBuffer(string: json))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        if let form {
            request.body = .bytes(ByteBuffer(string: SignIn.formEncode(form)))
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await APIClient.http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: body)
    }
}

/// One development CA and leaf for every platform the system tests start, in a directory of this test run: the
/// process trusts one CA (`PlatformTrust`), so all platforms in the process share it.
struct SystemTestTLS: Sendable {
    let certificate: ServerCertificate
    let roots: NIOSSLTrustRoots

    static let shared: SystemTestTLS = {
        do {
            let directory = TestDatabase.temporaryDirectory() + "/system-tls"
            let ca = try DevelopmentCA.loadOrCreate(in: directory)
            let certificate = try ServerCertificate(
                source: .development(ca, names: ServerNames(), directory: directory))
            try PlatformTrust.trust(caCertificateFile: ca.certificatePath)
            return SystemTestTLS(
                certificate: certificate,
                roots: .certificates(try NIOSSLCertificate.fromPEMFile(ca.certificatePath)))
        } catch {
            fatalError("cannot make the system tests' development CA: \(error)")
        }
    }()
}
