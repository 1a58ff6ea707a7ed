import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Notifications

/// The two ways a push subscription ends: its owner deletes it through the API, or the push service answers
/// 404 or 410 and the delivery worker deletes it. Both are audited as `push_subscription.delete`.
@Suite struct PushSubscriptionDeletionTests {
    typealias H = NotificationHarness

    static func listedIDs(_ client: some TestClientProtocol, token: String) async throws -> [String] {
        let listed = try H.json(try await client.call(.get, "/api/push-subscriptions", token: token))
        return (listed["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
    }

    @Test(arguments: TestDatabase.engines)
    func theOwnerDeletesTheirSubscriptionOnceAndNobodyElseCan(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let alice = Identifier.make(prefix: "usr")
        let aliceToken = try await h.token(.customer, alice)
        let bobToken = try await h.token(.customer)
        let admin = try await h.token(.admin)
        try await h.service.makeApplication().test(.router) { client in
            // Nothing listens on the endpoints: deleting never talks to the push service.
            let (_, _, kept) = try await DeliveryTests.subscribe(client, token: aliceToken, port: 9, path: "kept")
            let (_, _, deleted) = try await DeliveryTests.subscribe(client, token: aliceToken, port: 9, path: "deleted")
            #expect(Set(try await Self.listedIDs(client, token: aliceToken)) == [kept, deleted])

            // Someone else's subscription does not exist for Bob: not a success, and it survives.
            let foreign = try await client.call(.delete, "/api/push-subscriptions/\(deleted)", token: bobToken)
            #expect(foreign.status == .notFound)
            #expect(foreign.headers[.contentType] == Problem.contentType)
            #expect(Set(try await Self.listedIDs(client, token: aliceToken)) == [kept, deleted])

            let first = try await client.call(.delete, "/api/push-subscriptions/\(deleted)", token: aliceToken)
            #expect(first.status == .noContent)
            #expect(first.body.readableBytes == 0)
            #expect(try await Self.listedIDs(client, token: aliceToken) == [kept])
            #expect(try await client.call(.delete, "/api/push-subscriptions/\(deleted)", token: aliceToken).status == .notFound)
            #expect(try await client.call(.delete, "/api/push-subscriptions/not-an-id", token: aliceToken).status == .notFound)
            #expect(try await client.call(.delete, "/api/push-subscriptions/\(kept)", token: nil).status == .unauthorized)

            // One record, naming the owner: the refused and repeated deletes changed nothing and left none.
            let records = try await AuditTrail.records(client, token: admin, action: "push_subscription.delete")
            #expect(records.count == 1)
            let record = try #require(records.first)
            #expect(AuditTrail.resourceID(record) == deleted)
            #expect(record["outcome"] as? String == "success")
            #expect(AuditTrail.actor(record) == alice)
        }
    }

    /// 410 Gone and 404 Not Found both mean the browser unsubscribed: the subscription is deleted and the
    /// deletion audited with the worker as the actor, in the transaction that records the attempt (so its
    /// record sits right before that delivery's `notification.deliver`). A subscription its owner deleted
    /// while the delivery waited was audited then, and is not audited again.
    @Test(arguments: TestDatabase.engines)
    func aPushServiceSaying404Or410DeletesTheSubscriptionAndAuditsIt(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let pushService = LoopbackPushService()
        let alice = Identifier.make(prefix: "usr")
        let aliceToken = try await h.token(.customer, alice)
        let admin = try await h.token(.admin)
        try await pushService.application().test(.live) { push in
            let port = try #require(push.port)
            try await h.service.makeApplication().test(.router) { client in
                let (_, _, gone) = try await DeliveryTests.subscribe(client, token: aliceToken, port: port, path: "gone")
                let (_, _, missing) = try await DeliveryTests.subscribe(client, token: aliceToken, port: port, path: "missing")
                let (_, _, withdrawn) = try await DeliveryTests.subscribe(client, token: aliceToken, port: port, path: "withdrawn")
                let sent = try await client.call(.post, "/api/notifications", token: admin,
                    body: #"{"recipients":[{"user_id":"\#(alice)"}],"channels":["push"],"category":"news","subject":"S","text":"T"}"#)
                #expect(sent.status == .accepted)
                let id = try #require(((try H.json(sent)["data"] as? [[String: Any]])?.first)?["id"] as? String)
                #expect(try await client.call(.delete, "/api/push-subscriptions/\(withdrawn)", token: aliceToken).status == .noContent)

                // One 410 and one 404, whichever subscription is claimed first; the withdrawn one is never sent.
                pushService.script([(410, nil), (404, nil)])
                let worker = h.service.worker
                for _ in 0..<3 { #expect(try await worker.runOnce() == 1) }
                #expect(try await worker.runOnce() == 0)
                #expect(pushService.received.count == 2)

                #expect(try await Self.listedIDs(client, token: aliceToken).isEmpty)
                let detail = try H.json(try await client.call(.get, "/api/notifications/\(id)", token: admin))
                let deliveries = try #require(detail["deliveries"] as? [[String: Any]])
                #expect(deliveries.count == 3)
                #expect(deliveries.allSatisfy { $0["status"] as? String == "dead" })
                var statusBySubscription: [String: Int?] = [:]
                for delivery in deliveries {
                    let subscription = try #require(delivery["push_subscription_id"] as? String)
                    let attempts = try #require(delivery["attempts"] as? [[String: Any]])
                    #expect(attempts.count == 1)
                    statusBySubscription[subscription] = attempts.first?["provider_status"] as? Int
                }
                #expect(statusBySubscription[withdrawn] == .some(nil))
                #expect(Set([statusBySubscription[gone], statusBySubscription[missing]].compactMap { $0 ?? nil }) == [404, 410])

                let records = try await AuditTrail.records(client, token: admin, action: "push_subscription.delete")
                #expect(records.count == 3)
                let byWorker = records.filter { AuditTrail.actor($0) == "system:\(NotificationsService.name)" }
                #expect(Set(byWorker.compactMap(AuditTrail.resourceID)) == [gone, missing])
                #expect(records.filter { AuditTrail.resourceID($0) == withdrawn }.map(AuditTrail.actor) == [alice])
                let delivered = try await AuditTrail.records(client, token: admin, action: "notification.deliver")
                for record in byWorker {
                    let subscription = try #require(AuditTrail.resourceID(record))
                    let changes = AuditTrail.changes(record)
                    #expect(record["outcome"] as? String == "success")
                    #expect(changes["user_id"] as? String == alice)
                    #expect(changes["provider_status"] as? Int == statusBySubscription[subscription] ?? nil)
                    let deliveryID = try #require(changes["delivery_id"] as? String)
                    #expect(deliveries.first { $0["id"] as? String == deliveryID }?["push_subscription_id"] as? String == subscription)
                    let sequence = try #require(record["sequence"] as? Int)
                    let next = delivered.first { $0["sequence"] as? Int == sequence + 1 }
                    #expect(next.flatMap(AuditTrail.resourceID) == deliveryID)
                }
            }
        }
    }
}
