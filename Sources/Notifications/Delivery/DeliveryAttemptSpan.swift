import MeridianKit

extension DeliveryWorker {
    /// One attempt in a `deliver <channel>` span whose parent is the span that queued the delivery (the
    /// delivery's stored `traceparent`), so a notification caused by a request or an event is one trace from that
    /// request to the provider's answer. The span carries ids, the attempt number and the outcome; never the
    /// provider's answer text, which may quote the recipient's address.
    func tracedAttempt(_ delivery: Delivery) async -> ChannelResult {
        await QueuedWorkSpan.run(
            "deliver \(delivery.channel.rawValue)", continuing: delivery.traceparent,
            attributes: [
                "meridian.service": NotificationsService.name, "meridian.delivery.id": delivery.id,
                "meridian.notification.id": delivery.notificationID,
                "meridian.delivery.channel": delivery.channel.rawValue,
            ]
        ) { span in
            span.set("meridian.delivery.attempt", delivery.attempts)
            let result = await dispatcher.attempt(delivery)
            span.set("meridian.delivery.outcome", result.outcome.rawValue)
            if let status = result.providerStatus { span.set("meridian.delivery.provider_status", status) }
            if result.outcome != .sent { span.fail(result.outcome.rawValue) }
            return result
        }
    }
}
