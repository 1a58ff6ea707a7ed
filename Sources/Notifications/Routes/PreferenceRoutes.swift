import Foundation
import Hummingbird
import MeridianKit

/// `/api/notification-preferences/{user_id}`: per category and channel, on or off. Critical categories
/// (security, receipts) cannot be switched off: they reach the user whatever they chose. The preferences carry a
/// version (`ETag`); `PUT` honours `If-Match`.
struct PreferenceRoutes: Sendable {
    let database: any Database
    let store: PreferenceStore
    let audit: AuditLog

    func register(on router: Router<MeridianRequestContext>) {
        router.get("/api/notification-preferences/:user_id") { _, context in try await show(context) }
        router.put("/api/notification-preferences/:user_id") { request, context in try await replace(request, context) }
    }

    func show(_ context: MeridianRequestContext) async throws -> Response {
        let userID = try userID(context, scope: try NotificationAccess(context).read)
        // The version first: a write committing in between then makes the preferences newer than the tag, which
        // costs the client a 412 at worst, never an If-Match that passes over a change it has not seen.
        let (version, preferences) = try await database.read { sql -> (Int64, [Preference]) in
            let version = try await store.version(userID: userID, on: sql)
            return (version, try await store.preferences(userID: userID, on: sql))
        }
        return try Response.json(
            PreferencesResource(userID: userID, preferences: preferences),
            headers: [.eTag: EntityTag.make(version: version)])
    }

    func replace(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        let userID = try userID(context, scope: try NotificationAccess(context).write)
        // A stale If-Match is refused before the body is read.
        try EntityTag.checkIfMatch(request, currentVersion: try await store.version(userID: userID))
        var body = try await request.fieldReader(context: context)
        var seen = Set<String>()
        let preferences = body.objects("preferences", maxCount: 200) { item -> Preference? in
            let category = item.string("category", maxLength: 40)
            let channelName = item.string("channel", maxLength: 20)
            let enabled = item.bool("enabled")
            if let category, !Category.isValid(category) {
                item.fail("category", "must be lower-case letters, digits, - and _, starting with a letter")
            }
            let channel = channelName.flatMap(Channel.init(rawValue:))
            if channelName != nil, channel == nil {
                item.fail("channel", "must be one of \(Channel.names.joined(separator: ", "))")
            }
            guard let category, let channel, let enabled else { return nil }
            if Category.isCritical(category), !enabled {
                item.fail("enabled", "\(category) messages are critical and cannot be switched off")
                return nil
            }
            if !seen.insert("\(category)|\(channel.rawValue)").inserted {
                item.fail("category", "\(category) by \(channel.rawValue) is listed twice")
                return nil
            }
            return Preference(category: category, channel: channel, enabled: enabled)
        }
        try body.finish()
        let (version, stored) = try await ConditionalWrite.run(
            request, read: { try await store.version(userID: userID) }, version: { $0 }
        ) { current in
            try await database.transaction { sql -> (Int64, [Preference])? in
                let now = Date()
                guard let version = try await store.advanceVersion(userID: userID, from: current, now: now, on: sql) else {
                    return nil
                }
                try await store.replace(userID: userID, with: preferences ?? [], now: now, on: sql)
                try await audit.append(
                    AuditEvent(
                        action: "preferences.update", resourceType: "notification_preferences", resourceID: userID,
                        changes: .object([
                            "preferences": .integer(Int64(preferences?.count ?? 0)), "version": .integer(version),
                        ])),
                    actor: AuditActor(context: context), on: sql)
                return (version, try await store.preferences(userID: userID, on: sql))
            }
        }
        return try Response.json(
            PreferencesResource(userID: userID, preferences: stored), headers: [.eTag: EntityTag.make(version: version)])
    }

    /// The path's user, within the caller's reach; someone else's under `:own` is 404 like a missing user.
    private func userID(_ context: MeridianRequestContext, scope: OwnershipScope) throws -> String {
        let notFound = Problem.notFound("The user's preferences")
        guard let userID = context.parameters.get("user_id"), Identifier.isWellFormed(userID, prefix: "usr") else {
            throw notFound
        }
        try scope.authorize(owner: userID, notFound: notFound)
        return userID
    }
}

struct PreferencesResource: Encodable, Sendable {
    let userID: String
    let preferences: [Item]
    let criticalCategories: [String]
    let channels: [String]

    struct Item: Encodable, Sendable {
        let category: String
        let channel: String
        let enabled: Bool
    }

    init(userID: String, preferences: [Preference]) {
        self.userID = userID
        self.preferences = preferences.map { Item(category: $0.category, channel: $0.channel.rawValue, enabled: $0.enabled) }
        criticalCategories = Category.critical.sorted()
        channels = Channel.names
    }

    enum CodingKeys: String, CodingKey {
        case userID = "user_id", preferences, criticalCategories = "critical_categories", channels
    }
}
