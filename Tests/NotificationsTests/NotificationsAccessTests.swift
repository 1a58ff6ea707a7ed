import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Notifications

@Suite struct NotificationsAccessTests {
    typealias Support = NotificationsServiceTests

    /// Deny by default: a route added without a rule fails here before it ships.
    @Test func everyRouteHasARuleAndEveryRuleARoute() async throws {
        let router = try await Support.makeService(.sqlite).makeRouter()
        #expect(NotificationsAccessTable.rules.missingRoutes(router: router) == [])
        #expect(NotificationsAccessTable.rules.unusedRules(router: router) == [])
        for route in RouteAccessTable.operationalRoutes { #expect(NotificationsAccessTable.rules[route] == .public) }
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
        router.get("/api/notifications/unlisted") { _, _ in "must not be served" }
        #expect(NotificationsAccessTable.rules.missingRoutes(router: router) == ["GET /api/notifications/unlisted"])
        try await Application(router: router, services: [service.database]).test(.router) { client in
            for headers: HTTPFields in [[:], [.authorization: "Bearer \(admin)"]] {
                let response = try await client.execute(
                    uri: "/api/notifications/unlisted", method: .get, headers: headers)
                #expect(response.status == .forbidden)
                #expect(response.headers[.contentType] == Problem.contentType)
                let problem = try Support.json(response.body)
                #expect(problem["type"] as? String == Problem.typeBase + "route-not-permitted")
            }
        }
    }

    /// The VAPID public key is for subscribing a browser, so it takes what subscribing takes: a customer (or an
    /// administrator) gets it, a role that cannot subscribe is refused with the RFC 6750 challenge.
    @Test(arguments: TestDatabase.engines)
    func theVAPIDKeyNeedsThePermissionToSubscribe(_ engine: DatabaseEngine) async throws {
        let h = try await NotificationHarness(engine)
        let customer = try await h.token(.customer)
        let admin = try await h.token(.admin)
        let support = try await h.token(.support)
        let service = try await h.token(.service)
        let uri = "/api/push-subscriptions/vapid-public-key"
        try await h.service.makeApplication().test(.router) { client in
            for token in [customer, admin] {
                let allowed = try await client.call(.get, uri, token: token)
                #expect(allowed.status == .ok)
                #expect((try NotificationHarness.json(allowed)["public_key"] as? String)?.isEmpty == false)
            }
            for token in [support, service] {
                let refused = try await client.call(.get, uri, token: token)
                #expect(refused.status == .forbidden)
                #expect(refused.headers[.wwwAuthenticate] == #"Bearer error="insufficient_scope""#)
            }
            #expect(try await client.call(.get, uri, token: nil).status == .unauthorized)
        }
    }

    /// Tokens are verified against the users service's keys unless a verifier is given.
    @Test func theUsersServiceURLIsRequiredWithoutAVerifier() {
        #expect(throws: ServiceSettings.Missing.self) {
            try NotificationsService(settings: Support.settings(.sqlite), logger: Logger(label: "test"))
        }
    }

    /// Loading the signing keys at start-up is best effort: with users down the service still starts.
    @Test func theServiceStartsWhileUsersIsDown() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let service = try NotificationsService(
            settings: Support.settings(.sqlite, serviceURLs: ["users": "http://127.0.0.1:1"]), logger: logger)
        try await service.makeApplication().test(.router) { client in
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            let verifier = try #require(service.verifier as? JWKSTokenVerifier)
            #expect(verifier.knownKeyIDs.isEmpty)
        }
    }
}
