import Foundation
import MeridianKit
import SQLKit

/// One switch of a user's preferences: messages of `category` by `channel`, on or off.
struct Preference: Sendable, Equatable, Hashable {
    var category: String
    var channel: Channel
    var enabled: Bool
}

/// Users' notification preferences. Only explicit choices are stored; everything else is on.
struct PreferenceStore: Sendable {
    let database: any Database

    static let table = "notification_preferences"

    func preferences(userID: String) async throws -> [Preference] {
        try await database.read { sql in try await preferences(userID: userID, on: sql) }
    }

    func preferences(userID: String, on sql: any SQLDatabase) async throws -> [Preference] {
        try await sql.select().columns("category", "channel", "enabled").from(Self.table)
            .where("user_id", .equal, SQLBind(userID)).orderBy("category").orderBy("channel").all()
            .compactMap { row in
                guard let channel = Channel(rawValue: try row.decode(column: "channel", as: String.self)) else {
                    return nil
                }
                return Preference(
                    category: try row.decode(column: "category", as: String.self), channel: channel,
                    enabled: try row.decode(column: "enabled", as: Int64.self) != 0)
            }
    }

    /// The channels the user switched off for `category`.
    func optedOut(userID: String, category: String, on sql: any SQLDatabase) async throws -> Set<Channel> {
        Set(try await preferences(userID: userID, on: sql).filter { $0.category == category && !$0.enabled }.map(\.channel))
    }

    /// Replaces the user's preferences with `preferences`.
    func replace(userID: String, with preferences: [Preference], now: Date, on sql: any SQLDatabase) async throws {
        try await sql.delete(from: Self.table).where("user_id", .equal, SQLBind(userID)).run()
        for preference in preferences {
            try await sql.insert(into: Self.table).columns("user_id", "category", "channel", "enabled", "updated_at")
                .values(
                    SQLBind(userID), SQLBind(preference.category), SQLBind(preference.channel.rawValue),
                    SQLBind(Int64(preference.enabled ? 1 : 0)), SQLBind(Timestamp.micros(now))
                ).run()
        }
    }
}
