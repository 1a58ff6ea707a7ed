import Foundation
import JWTKit
import MeridianKit
import Testing

@Suite struct PermissionTests {
    @Test func builtInRolesGrantWhatTheIdentityDesignSays() {
        #expect(BuiltInRole.admin.permissions == Set(Permission.all))
        #expect(Permission.all.count == 19)
        #expect(
            BuiltInRole.support.permissions
                == [.usersRead, .ordersRead, .notificationsRead, .analyticsRead, .auditRead])
        #expect(
            BuiltInRole.customer.permissions
                == [
                    .usersReadOwn, .usersWriteOwn, .ordersReadOwn, .ordersWriteOwn, .notificationsReadOwn,
                    .notificationsWriteOwn,
                ])
        #expect(
            BuiltInRole.service.permissions
                == [.usersRead, .ordersRead, .notificationsSend, .analyticsWrite, .eventsDeliver])
        // Support changes nothing.
        let supportOnlyReads = BuiltInRole.support.permissions.allSatisfy { $0.isRead }
        #expect(supportOnlyReads)
    }

    @Test func ownVariantsMapBothWays() {
        #expect(Permission.ordersRead.own == .ordersReadOwn)
        #expect(Permission.ordersReadOwn.own == .ordersReadOwn)
        #expect(Permission.ordersReadOwn.unrestricted == .ordersRead)
        #expect(Permission.usersWrite.unrestricted == .usersWrite)
        #expect(Permission.notificationsReadOwn.isOwn && !Permission.notificationsRead.isOwn)
        #expect(Permission.analyticsWrite.resource == "analytics")
        #expect(Permission("orders:delete").isKnown == false && Permission.auditRead.isKnown)
    }

    @Test func ownershipFollowsTheStrongestPermissionHeld() throws {
        func principal(_ permissions: Set<Permission>) -> Principal {
            Principal(
                subject: "usr_a", clientID: "cli", roles: [], permissions: permissions, scopes: [], tokenID: "tok",
                expiresAt: Date())
        }
        #expect(principal([.ordersRead, .ordersReadOwn]).ownership(of: .ordersRead) == .all)
        #expect(principal([.ordersReadOwn]).ownership(of: .ordersRead) == .own("usr_a"))
        #expect(principal([.ordersReadOwn]).ownership(of: .ordersReadOwn) == .own("usr_a"))
        #expect(principal([.usersRead]).ownership(of: .ordersRead) == .none)

        let own = OwnershipScope.own("usr_a")
        #expect(own.permits(owner: "usr_a") && !own.permits(owner: "usr_b"))
        #expect(try own.listOwner() == "usr_a")
        #expect(try OwnershipScope.all.listOwner() == nil)
        try own.authorize(owner: "usr_a", notFound: .notFound("The order"))
        #expect {
            try own.authorize(owner: "usr_b", notFound: .notFound("The order"))
        } throws: { ($0 as? Problem)?.status == .notFound }
        #expect {
            try OwnershipScope.none.authorize(owner: "usr_a", notFound: .notFound("The order"))
        } throws: { ($0 as? Problem)?.status == .forbidden }
        #expect(throws: Problem.self) { try OwnershipScope.none.listOwner() }
    }

    @Test func claimsUseTheRegisteredAndSnakeCaseNames() throws {
        let claims = AccessTokenClaims(
            issuer: "https://meridian.test", subject: "usr_a", issuedAt: Date(timeIntervalSince1970: 1_000.7),
            expiresAt: Date(timeIntervalSince1970: 1_600.2), tokenID: "tok_1", clientID: "cli_1",
            scope: "openid  orders", roles: ["customer"], permissions: [.ordersReadOwn])
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        let object = try #require(
            JSONSerialization.jsonObject(with: encoder.encode(claims)) as? [String: Any])
        #expect(
            Set(object.keys)
                == ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "roles", "permissions"])
        #expect(object["exp"] as? Double == 1_600)
        #expect(object["iat"] as? Double == 1_000)
        #expect(object["nbf"] as? Double == 1_000)
        #expect(object["permissions"] as? [String] == ["orders:read:own"])
        #expect(claims.scopes == ["openid", "orders"])
    }
}
