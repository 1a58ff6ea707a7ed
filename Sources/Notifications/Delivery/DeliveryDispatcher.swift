import Foundation
import MeridianKit

/// Makes one attempt at one delivery on its channel and says how it went. Never throws: every failure is a
/// result the queue records.
struct DeliveryDispatcher: Sendable {
    let notifications: NotificationStore
    let subscriptions: PushSubscriptionStore
    let directory: any RecipientDirectory
    let email: EmailSender
    let push: WebPushSender

    func attempt(_ delivery: Delivery) async -> ChannelResult {
        let notification: Notification
        do {
            guard let found = try await notifications.notification(id: delivery.notificationID) else {
                return .permanent("the notification no longer exists")
            }
            notification = found
        } catch {
            return .transient("the notification could not be read: \(type(of: error))")
        }
        switch delivery.channel {
        case .inApp:
            return .sent("stored in the recipient's inbox")
        case .email:
            return await sendEmail(notification, delivery)
        case .push:
            return await sendPush(notification, delivery)
        }
    }

    private func sendEmail(_ notification: Notification, _ delivery: Delivery) async -> ChannelResult {
        guard email.isConfigured else { return await email.send(notification.content, to: "", deliveryID: delivery.id) }
        var address = notification.address
        if address == nil, let userID = notification.userID {
            do {
                address = try await directory.emailAddress(userID: userID)
                if address == nil { return .permanent("the recipient user does not exist") }
            } catch {
                return .transient("the users service could not give the recipient's address: \(type(of: error))")
            }
        }
        guard let address else { return .permanent("the notification has no email recipient") }
        return await email.send(notification.content, to: address, deliveryID: delivery.id)
    }

    private func sendPush(_ notification: Notification, _ delivery: Delivery) async -> ChannelResult {
        guard let subscriptionID = delivery.pushSubscriptionID else {
            return .permanent("the delivery names no push subscription")
        }
        let subscription: PushSubscription
        do {
            guard let found = try await subscriptions.subscription(id: subscriptionID) else {
                return ChannelResult(outcome: .gone, providerStatus: nil, answer: "the push subscription was deleted")
            }
            subscription = found
        } catch {
            return .transient("the push subscription could not be read: \(type(of: error))")
        }
        let message = WebPushSender.Message(
            payload: Self.payload(notification),
            urgency: Category.isCritical(notification.category) ? "high" : "normal",
            topic: Self.topic(notification))
        return await push.send(message, to: subscription)
    }

    /// The JSON the service worker receives: id, category, title and body, the body shortened to fit one record.
    static func payload(_ notification: Notification) -> Data {
        var body = notification.content.text
        func encoded() -> [UInt8] {
            JSONValue.object([
                "id": .string(notification.id), "category": .string(notification.category),
                "title": .string(notification.content.subject), "body": .string(body),
            ]).serialized()
        }
        var bytes = encoded()
        while bytes.count > WebPushEncryption.maxPlaintext, !body.isEmpty {
            body = String(body.dropLast(max(1, (bytes.count - WebPushEncryption.maxPlaintext) / 2))) 
            bytes = encoded()
        }
        return Data(bytes)
    }

    /// A topic per notification (at most 32 base64url characters): a re-sent message replaces its undelivered
    /// earlier copy at the push service instead of arriving twice.
    static func topic(_ notification: Notification) -> String {
        String(notification.id.replacingOccurrences(of: "_", with: "-").suffix(32))
    }
}
