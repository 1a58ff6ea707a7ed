import Foundation
import MeridianKit

/// Sends one email through the SMTP client and turns the server's answer into a delivery result: 2xx sent,
/// 4xx (and a broken session) later, 5xx refused for good. Without SMTP settings every email delivery fails
/// with a message that says so.
struct EmailSender: Sendable {
    let client: SMTPClient?
    let from: MailAddress?

    var isConfigured: Bool { client != nil && from != nil }

    func send(_ content: RenderedMessage, to address: String, deliveryID: String) async -> ChannelResult {
        guard let client, let from else {
            return .permanent("the email channel is not configured: set MERIDIAN_SMTP_HOST and MERIDIAN_SMTP_FROM")
        }
        let recipient: MailAddress
        do {
            recipient = try MailAddress(address)
        } catch {
            return .permanent("the recipient address is not valid")
        }
        let message = MailMessage(
            from: from, to: [recipient], subject: content.subject, text: content.text, html: content.html,
            messageID: MessageID.make(deliveryID: deliveryID, domain: from.domain))
        do {
            let result = try await client.send(message)
            if let (_, reply) = result.rejected.first {
                let answer = "\(reply.code) \(reply.text)"
                return reply.isTransient ? .transient(answer, status: reply.code) : .permanent(answer, status: reply.code)
            }
            let reply = result.dataReply
            return .sent(reply.map { "\($0.code) \($0.text)" } ?? "250 accepted", status: reply?.code ?? 250)
        } catch let reply as SMTPReply {
            let answer = "\(reply.code) \(reply.text)"
            return reply.isTransient ? .transient(answer, status: reply.code) : .permanent(answer, status: reply.code)
        } catch let error as SMTPError {
            return error.isTransient ? .transient(error.description) : .permanent(error.description)
        } catch {
            return .transient("the SMTP exchange failed: \(type(of: error))")
        }
    }
}
