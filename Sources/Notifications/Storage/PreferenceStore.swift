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
///
/// Each user's preferences are one resource with one version (its `ETag`), so that `PUT` can honour
/// `If-Match`. A user who never changed them is at version 1 (the defaults), stored as no row.
struct PreferenceStore: Sendable {
    let database: any Database

    static let table = "notification_preferences"
    static let versionsTable = "notification_preference_versions"
    /// The version of preferences never changed.
    static let initialVersion: Int64 = 1

    static let versionsMigration = Migration(
        "create_notification_preference_versions",
        statements: [
            """
            CREATE TABLE notification_preference_versions (
                user_id TEXT PRIMARY KEY,
                version BIGINT NOT NULL,
                updated_at BIGINT NOT NULL)
            """
        ])

    func version(userID: String) async throws -> Int64 {
        try await database.read { sql in try await version(userID: userID, on: sql) }
    }

    func version(userID: String, on sql: any SQLDatabase) async throws -> Int64 {
        try await sql.select().column("version").from(Self.versionsTable).where("user_id", .equal, SQLBind(userID))
            .first()?.decode(column: "version", as: Int64.self) ?? Self.initialVersion
    }

    /// Moves the user's preferences from `expectedVersion` to the next one; nil, changing nothing, when another
    /// writer moved them on first. Conditional in one statement, so of two concurrent writers from the same
    /// version exactly one advances (the other's insert or update waits for it, then matches no row).
    func advanceVersion(userID: String, from expectedVersion: Int64, now: Date, on sql: any SQLDatabase) async throws -> Int64? {
        let next = expectedVersion + 1
        let changed: [any SQLRow]
        if expectedVersion == Self.initialVersion {
            changed = try await sql.insert(into: Self.versionsTable).columns("user_id", "version", "updated_at")
                .values(SQLBind(userID), SQLBind(next), SQLBind(Timestamp.micros(now)))
                .ignoringConflicts(with: ["user_id"]).returning("version").all()
        } else {
            changed = try await sql.update(Self.versionsTable)
                .set("version", to: SQLBind(next)).set("updated_at", to: SQLBind(Timestamp.micros(now)))
                .where("user_id", .equal, SQLBind(userID)).where("version", .equal, SQLBind(expectedVersion))
                .returning("version").all()
        }
        return changed.isEmpty ? nil : next
    }

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
