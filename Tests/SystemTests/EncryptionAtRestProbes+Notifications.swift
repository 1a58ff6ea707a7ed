import Crypto
import Foundation
import MeridianKit
import NIOHTTP1
import Testing

/// The notifications service's probes: a message's content and raw recipient address (and the reply kept under
/// its idempotency key), a template's content, a push subscription's endpoint and keys.
///
/// Not probed: `delivery_attempts.answer`, the provider's reply. The harness configures no SMTP server (email
/// deliveries fail with a fixed "not configured" text), and push endpoints must be `https` URLs verified
/// against the system's roots, which no loopback test server can satisfy; no reply a test controls reaches it.
extension EncryptionAtRestTests {
    static let notificationProbes: [Probe] = [
        Probe(field: "notifications.content, notifications.address") { platform, mint in
            let subject = mint("subject")
            let text = mint("text")
            let html = mint("html")
            let address = "\(mint("address"))@example.com"
            let request = #"""
                {"recipients": [{"email": "\#(address)"}], "category": "probe",
                 "subject": "\#(subject) Subject", "text": "\#(text) Text", "html": "<p>\#(html) Html</p>"}
                """#
            let key = [("Idempotency-Key", UUID().uuidString)]
            let sent = try await platform.admin.send(.POST, "/api/notifications", json: request, headers: key)
            #expect(sent.status == 202)
            let id = try #require((sent.json["data"] as? [[String: Any]])?.first?["id"] as? String)
            let replayed = try await platform.admin.send(.POST, "/api/notifications", json: request, headers: key)
            #expect(replayed.headers.first(name: "Idempotent-Replayed") == "true")
            #expect((replayed.json["data"] as? [[String: Any]])?.first?["id"] as? String == id, "the kept reply opens again")
            let read = try await platform.admin.send(.GET, "/api/notifications/\(id)")
            #expect(read.json["address"] as? String == address)
            #expect(read.json["subject"] as? String == "\(subject) Subject")
            #expect(read.json["text"] as? String == "\(text) Text")
            #expect(read.json["html"] as? String == "<p>\(html) Html</p>")
            let kept = ["notifications.notifications.content", "notifications.meridian_idempotency.sealed_body"]
            return [
                .text("notifications.content (subject)", "\(subject) Subject", token: subject, in: kept),
                .text("notifications.content (text)", "\(text) Text", token: text, in: kept),
                .text("notifications.content (html)", "<p>\(html) Html</p>", token: html, in: kept),
                .text("notifications.address", address, token: String(address.prefix { $0 != "@" }),
                      in: ["notifications.notifications.address", "notifications.meridian_idempotency.sealed_body"]),
            ]
        },
        Probe(field: "notification_templates.content") { platform, mint in
            let subject = mint("tplsubject")
            let text = mint("tpltext")
            let html = mint("tplhtml")
            // The id is plaintext by design: no marker in it.
            let id = "probe-\(UUID().uuidString.lowercased().prefix(8))"
            let created = try await platform.admin.send(
                .POST, "/api/notification-templates",
                json: #"""
                    {"id": "\#(id)", "category": "probe", "variables": ["who"],
                     "subject": "\#(subject) for {{who}}", "text": "\#(text) for {{who}}", "html": "<p>\#(html) {{who}}</p>"}
                    """#)
            #expect(created.status == 201)
            let read = try await platform.admin.send(.GET, "/api/notification-templates/\(id)")
            #expect(read.json["subject"] as? String == "\(subject) for {{who}}")
            #expect(read.json["text"] as? String == "\(text) for {{who}}")
            #expect(read.json["html"] as? String == "<p>\(html) {{who}}</p>")
            let column = ["notifications.notification_templates.content"]
            return [
                .text("notification_templates.content (subject)", "\(subject) for {{who}}", token: subject, in: column),
                .text("notification_templates.content (text)", "\(text) for {{who}}", token: text, in: column),
                .text("notification_templates.content (html)", "<p>\(html) {{who}}</p>", token: html, in: column),
            ]
        },
        Probe(field: "push_subscriptions.endpoint, push_subscriptions.p256dh, push_subscriptions.auth") { platform, mint in
            // Loopback port 9 (discard): were a push ever attempted, it would fail at once.
            let endpointToken = mint("endpoint")
            let endpoint = "https://127.0.0.1:9/push/\(endpointToken)"
            let p256dh = P256.KeyAgreement.PrivateKey().publicKey.x963Representation
            var generator = SystemRandomNumberGenerator()
            let auth = Data((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let created = try await platform.admin.send(
                .POST, "/api/push-subscriptions",
                json: #"""
                    {"endpoint": "\#(endpoint)",
                     "keys": {"p256dh": "\#(SignIn.base64URL(p256dh))", "auth": "\#(SignIn.base64URL(auth))"}}
                    """#)
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? String)
            let owner = try #require(created.json["user_id"] as? String)
            let listed = try await platform.admin.send(.GET, "/api/push-subscriptions?user_id=\(owner)&limit=200")
            let read = (listed.json["data"] as? [[String: Any]])?.first { $0["id"] as? String == id }
            #expect(read?["endpoint"] as? String == endpoint)
            return [
                .text("push_subscriptions.endpoint", endpoint, token: endpointToken,
                      in: ["notifications.push_subscriptions.endpoint"]),
                .bytes("push_subscriptions.p256dh", p256dh, in: ["notifications.push_subscriptions.p256dh"]),
                .bytes("push_subscriptions.auth", auth, in: ["notifications.push_subscriptions.auth"]),
            ]
        },
    ]
}
