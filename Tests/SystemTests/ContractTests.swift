import Analytics
import Foundation
import Gateway
import Hummingbird
import Logging
import MeridianKit
import MeridianTestSupport
import Notifications
import Orders
import Testing
import Users
import Yams

/// The OpenAPI document is the contract: every public route of every service is in it, and it documents no
/// route that does not exist.
@Suite struct ContractTests {
    /// Routes every service has for operators, not for API clients; they are not part of the public contract.
    static let operational: Set<String> = ["GET /healthz", "GET /readyz", "GET /metrics"]

    /// Service-to-service routes (`/internal/…`: event delivery, usage records): the gateway never proxies them,
    /// so they are not part of the public contract (docs/events.md documents them).
    static func isInternal(_ route: String) -> Bool { route.split(separator: " ")[1].hasPrefix("/internal/") }

    static func documentedRoutes() throws -> Set<String> {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("openapi/openapi.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]
        var routes: Set<String> = []
        for (path, item) in paths {
            for key in (item as? [String: Any] ?? [:]).keys where methods.contains(key) {
                routes.insert("\(key.uppercased()) \(path)")
            }
        }
        return routes
    }

    static func normalise(_ route: Router<MeridianRequestContext>.RouteDescription) -> String {
        // Route parameters may be written `:id` or `{id}`; the contract uses `{id}`.
        let path = route.path.description.split(separator: "/").map { part in
            part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
        }.joined(separator: "/")
        return "\(route.method.rawValue) /\(path)"
    }

    static func implementedRoutes() throws -> Set<String> {
        let logger = Logger(label: "contract")
        let listen = ListenAddress(host: "127.0.0.1", port: 0)
        func settings(_ name: String) -> ServiceSettings {
            ServiceSettings(
                name: name, listen: listen, databaseURL: TestDatabase.url(.sqlite, service: name),
                serviceURLs: [
                    "users": "http://127.0.0.1:1", "orders": "http://127.0.0.1:1",
                    "notifications": "http://127.0.0.1:1", "analytics": "http://127.0.0.1:1",
                ]
            ).withTestMasterKey()
        }
        let routers: [Router<MeridianRequestContext>] = [
            try UsersService(settings: settings("users"), logger: logger).makeRouter(),
            try OrdersService(settings: settings("orders"), logger: logger).makeRouter(),
            try NotificationsService(settings: settings("notifications"), logger: logger).makeRouter(),
            try AnalyticsService(settings: settings("analytics"), logger: logger).makeRouter(),
        ]
        var routes: Set<String> = []
        for router in routers {
            for route in router.routes.map(normalise) where !operational.contains(route) && !isInternal(route) {
                routes.insert(route)
            }
        }
        // The gateway's own routes; its proxy routes stand for the services' routes counted above.
        let gateway = try GatewayService(settings: settings("gateway"), logger: logger).makeRouter(client: .shared)
        let proxied = GatewayService.proxiedPrefixes
        for route in gateway.routes.map(normalise) where !operational.contains(route) {
            let path = String(route.split(separator: " ")[1])
            if !proxied.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) { routes.insert(route) }
        }
        return routes
    }

    @Test func everyImplementedRouteIsDocumentedAndNothingElse() throws {
        let documented = try ContractTests.documentedRoutes()
        let implemented = try ContractTests.implementedRoutes()
        #expect(implemented.subtracting(documented).sorted() == [], "routes missing from openapi.yaml")
        #expect(documented.subtracting(implemented).sorted() == [], "documented routes that do not exist")
        #expect(documented.contains("GET /api/openapi.yaml"))
        #expect(documented.contains("POST /api/orders/{id}/payments"))
    }
}
