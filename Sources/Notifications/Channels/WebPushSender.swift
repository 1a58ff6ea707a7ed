import AsyncHTTPClient
import Foundation
import MeridianKit
import NIOCore
import NIOHTTP1

/// Sends one encrypted message to a push service (RFC 8030 section 5) with VAPID authorisation, and reads its
/// answer: 201 accepted; 404 or 410 the subscription is gone; 429 and 5xx come back later (`Retry-After`
/// honoured); any other refusal is final.
struct WebPushSender: Sendable {
    let client: HTTPClient
    let keys: VAPIDKeyStore
    let subject: String
    /// RFC 8030 `TTL`: how long the push service keeps a message for an offline browser.
    var ttl: Int = 24 * 3600
    let timeout: TimeAmount = .seconds(15)

    struct Message: Sendable {
        var payload: Data
        /// RFC 8030 section 5.3: very-low, low, normal or high.
        var urgency: String
        /// RFC 8030 section 5.4: a newer message with the same topic replaces an undelivered older one.
        var topic: String?
    }

    func send(_ message: Message, to subscription: PushSubscription) async -> ChannelResult {
        guard let endpoint = URL(string: subscription.endpoint) else {
            return .permanent("the subscription endpoint is not a URL")
        }
        let body: Data
        let authorization: String
        do {
            body = try WebPushEncryption.encrypt(
                message.payload, uaPublic: subscription.p256dh, authSecret: subscription.auth)
            authorization = try VAPID(privateKey: try await keys.key(), subject: subject).authorization(for: endpoint)
        } catch {
            return .permanent("the message cannot be encrypted for this subscription: \(error)")
        }
        var request = HTTPClientRequest(url: subscription.endpoint)
        request.method = .POST
        request.headers.add(name: "Authorization", value: authorization)
        request.headers.add(name: "Content-Encoding", value: "aes128gcm")
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.headers.add(name: "TTL", value: String(ttl))
        request.headers.add(name: "Urgency", value: message.urgency)
        if let topic = message.topic { request.headers.add(name: "Topic", value: topic) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            // A client span naming the push service's host only: the endpoint's path identifies the subscriber.
            let response = try await OutboundHTTPSpan.run(
                method: "POST", service: "web-push", serverAddress: endpoint.host
            ) { span in
                let response = try await client.execute(request, timeout: timeout)
                span.record(status: Int(response.status.code))
                return response
            }
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return Self.result(status: Int(response.status.code), reason: response.status.reasonPhrase,
                               retryAfter: response.headers.first(name: "Retry-After"))
        } catch {
            return .transient("the push service could not be reached: \(type(of: error))")
        }
    }

    static func result(status: Int, reason: String, retryAfter: String?, now: Date = Date()) -> ChannelResult {
        let answer = "\(status) \(reason)"
        switch status {
        case 200..<300: return .sent(answer, status: status)
        case 404, 410: return ChannelResult(outcome: .gone, providerStatus: status, answer: answer)
        case 429, 500..<600:
            return .transient(answer, status: status, retryAfter: retryAfter.flatMap { Self.retryAfter($0, now: now) })
        default: return .permanent(answer, status: status)
        }
    }

    /// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 section 10.2.3).
    static func retryAfter(_ value: String, now: Date) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return .seconds(max(0, Int(date.timeIntervalSince(now).rounded(.up))))
    }
}
