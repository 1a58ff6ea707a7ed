import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Analytics

@Suite struct AnalyticsAccessTests {
    typealias Support = AnalyticsServiceTests

    /// Deny by default: a route added without a rule fails here before it ships.
    @Test func everyRouteHasARuleAndEveryRuleARoute() async throws {
        let router = try await Support.makeService(.sqlite).makeRouter()
        #expect(AnalyticsAccessTable.rules.missingRoutes(router: router) == [])
        #expect(AnalyticsAccessTable.rules.unusedRules(router: router) == [])
        for route in RouteAccessTable.operationalRoutes { #expect(AnalyticsAccessTable.rules[route] == .public) }
    }

    @Test(arguments: TestDatabase.engines)
    func operationalRoutesAreOpenToEveryone(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        let service = try await Support.makeService(engine, tokens: tokens)
        let admin = try await tokens.token(.admin, subject: Identifier.make(prefix: "usr"))
        try await service.makeApplication().test(.router) { client in
            for headers: HTTPFields in [[:], [.authorization: "Bearer \(admin)"], [.authorization: "Bearer junk"]] {
                for uri in ["/healthz", "/readyz", "/metrics"] {
                    let response = try await client.execute(uri: uri, method: .get, headers: headers)
                    #expect(response.status == .ok, "\(uri) \(headers)")
                }
            }
        }
    }

    /// The access middleware guards the service's router: a route given no rule is refused even to an
    /// administrator, and `missingRoutes` names it.
    @Test(arguments: TestDatabase.engines)
    func aRouteWithoutARuleIsRefusedToEveryone(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        let service = try await Support.makeService(engine, tokens: tokens)
        let admin = try await tokens.token(.admin, subject: Identifier.make(prefix: "usr"))
        let router = service.makeRouter()
        router.get("/api/analytics/unlisted") { _, _ in "must not be served" }
        #expect(AnalyticsAccessTable.rules.missingRoutes(router: router) == ["GET /api/analytics/unlisted"])
        try await Application(router: router, services: [service.database]).test(.router) { client in
            for headers: HTTPFields in [[:], [.authorization: "Bearer \(admin)"]] {
                let response = try await client.execute(
                    uri: "/api/analytics/unlisted", method: .get, headers: headers)
                #expect(response.status == .forbidden)
                #expect(response.headers[.contentType] == Problem.contentType)
                let problem = try Support.json(response.body)
                #expect(problem["type"] as? String == Problem.typeBase + "route-not-permitted")
            }
        }
    }

    /// Tokens are verified against the users service's keys unless a verifier is given.
    @Test func theUsersServiceURLIsRequiredWithoutAVerifier() {
        #expect(throws: ServiceSettings.Missing.self) {
            try AnalyticsService(
                settings: Support.settings(.sqlite), logger: Logger(label: "test"), configuration: AnalyticsConfiguration())
        }
    }

    /// Loading the signing keys at start-up is best effort: with users down the service still starts.
    @Test func theServiceStartsWhileUsersIsDown() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let service = try AnalyticsService(
            settings: Support.settings(.sqlite, serviceURLs: ["users": "http://127.0.0.1:1"]), logger: logger,
            configuration: AnalyticsConfiguration())
        try await service.makeApplication().test(.router) { client in
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            let verifier = try #require(service.verifier as? JWKSTokenVerifier)
            #expect(verifier.knownKeyIDs.isEmpty)
        }
    }
}

/// The permissions of every analytics route, by built-in role: reads need `analytics:read`, ingestion and
/// every mutation `analytics:write`; Segment's routes are public at this layer (the write key is checked by the
/// handler) and the event inbox takes `events:deliver`.
@Suite struct AnalyticsRolePermissionTests {
    static let routes: [(HTTPRequest.Method, String, Permission?)] = [
        (.post, "/api/analytics/events", .analyticsWrite),
        (.post, "/internal/analytics/usage", .analyticsWrite),
        (.get, "/api/analytics/metrics?event=x", .analyticsRead),
        (.get, "/api/analytics/usage", .analyticsRead),
        (.get, "/api/analytics/funnels?steps=a,b", .analyticsRead),
        (.get, "/api/analytics/events?user_id=u", .analyticsRead),
        (.delete, "/api/analytics/users/u", .analyticsWrite),
        (.post, "/api/analytics/write-keys", .analyticsWrite),
        (.get, "/api/analytics/write-keys", .analyticsWrite),
        (.delete, "/api/analytics/write-keys/wk_x", .analyticsWrite),
        (.post, "/internal/events", .eventsDeliver),
    ]

    @Test(arguments: TestDatabase.engines)
    func eachRoleGetsExactlyItsPermissions(_ engine: DatabaseEngine) async throws {
        try await withAnalyticsService(engine) { harness in
            for role in BuiltInRole.allCases {
                let client = try await harness.client(as: role)
                for (method, uri, permission) in Self.routes {
                    let response = try await client.execute(uri: uri, method: method, headers: jsonHeaders, body: ByteBuffer(string: "{}"))
                    let allowed = permission.map { role.permissions.contains($0) } ?? true
                    if allowed {
                        #expect(response.status != .forbidden && response.status != .unauthorized, "\(role) \(method) \(uri)")
                    } else {
                        #expect(response.status == .forbidden, "\(role) \(method) \(uri)")
                    }
                }
            }
            for (method, uri, _) in Self.routes {
                let response = try await harness.anonymous.execute(uri: uri, method: method)
                #expect(response.status == .unauthorized, "anonymous \(method) \(uri)")
            }
            // Segment's routes: public to the access layer, so the answer is the write-key check's 401.
            for route in ["/v1/batch", "/v1/track", "/v1/identify", "/v1/page"] {
                let response = try await harness.anonymous.execute(uri: route, method: .post)
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Basic realm="segment""#)
            }
        }
    }
}
