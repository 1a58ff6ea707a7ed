import Foundation
import MeridianKit

/// The body of `POST /api/notifications`, validated field by field.
struct SendInput {
    var recipients: [NotificationComposer.Recipient]
    var channels: [Channel]?
    var category: String?
    var templateID: String?
    var data: [String: JSONValue]
    var direct: RenderedMessage?

    /// `maySendToAddresses`: raw addresses are for administrators (`notifications:manage`).
    static func read(_ body: inout FieldReader, maySendToAddresses: Bool) throws -> SendInput {
        var input = SendInput(recipients: [], channels: nil, category: nil, templateID: nil, data: [:], direct: nil)
        input.recipients = body.objects("recipients", minCount: 1, maxCount: 100) { item -> NotificationComposer.Recipient? in
            let userID = item.optionalString("user_id", maxLength: 64)
            let email = item.optionalString("email", maxLength: 254)
            switch (userID, email) {
            case (let userID?, nil):
                guard Identifier.isWellFormed(userID, prefix: "usr") else {
                    item.fail("user_id", "is not a user id")
                    return nil
                }
                return .user(userID)
            case (nil, let email?):
                guard maySendToAddresses else {
                    item.fail("email", "raw addresses need the notifications:manage permission; name a user_id")
                    return nil
                }
                guard (try? MailAddress(email)) != nil else {
                    item.fail("email", "is not an email address")
                    return nil
                }
                return .address(email)
            default:
                item.fail("user_id", "give exactly one of user_id and email")
                return nil
            }
        } ?? []
        if let raw = body.raw("channels") {
            if case .array(let values) = raw, !values.isEmpty, values.count <= Channel.allCases.count {
                var channels: [Channel] = []
                for value in values {
                    if case .string(let name) = value, let channel = Channel(rawValue: name), !channels.contains(channel) {
                        channels.append(channel)
                    } else {
                        body.fail("channels", "must list distinct channels among \(Channel.names.joined(separator: ", "))")
                        break
                    }
                }
                input.channels = channels
            } else {
                body.fail("channels", "must be a non-empty array of \(Channel.names.joined(separator: ", ")), or absent for the recipients' preferred channels")
            }
        }
        if let category = body.optionalString("category", maxLength: 40) {
            if Category.isValid(category) { input.category = category } else {
                body.fail("category", "must be lower-case letters, digits, - and _, starting with a letter")
            }
        }
        input.templateID = body.optionalString("template_id", maxLength: 64)
        if let raw = body.raw("data") {
            if case .object(let members) = raw { input.data = members } else { body.fail("data", "must be an object") }
        }
        let subject = body.optionalString("subject", maxLength: 998)
        let text = body.optionalString("text", maxLength: 100_000)
        let html = body.optionalString("html", maxLength: 200_000)
        if input.templateID != nil {
            for (name, value) in [("subject", subject), ("text", text), ("html", html)] where value != nil {
                body.fail(name, "give either template_id (with data) or subject and text, not both")
            }
        } else {
            if subject == nil { body.fail("subject", "is required without template_id") }
            if text == nil { body.fail("text", "is required without template_id") }
            if body.has("data") { body.fail("data", "is only for templates") }
            if let subject, let text {
                if subject.contains("\n") { body.fail("subject", "must be one line") }
                input.direct = RenderedMessage(subject: subject, text: text, html: html)
            }
            if input.category == nil { body.fail("category", "is required without template_id") }
        }
        let addresses = input.recipients.contains { if case .address = $0 { true } else { false } }
        if addresses, let channels = input.channels, channels != [.email] {
            body.fail("channels", "raw email recipients can only be sent email: give [\"email\"] or leave channels out")
        }
        try body.finish()
        return input
    }
}
