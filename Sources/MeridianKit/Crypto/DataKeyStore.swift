import Crypto
import Foundation
import SQLKit

/// The rows of `meridian_data_keys`: each service's data keys and blind-index seed, wrapped with AES-256-GCM
/// under the master key. The AAD names the service, purpose and version, so a wrapped key copied to another
/// service or version does not unwrap.
enum DataKeyStore {
    enum Purpose: String {
        case data
        case index
    }

    enum State: String {
        case primary, active, retired
    }

    struct Row: Sendable {
        let purpose: String
        let version: Int64
        let wrapped: Data?
        let state: String
        let createdAt: Int64
        let retiredAt: Int64?
    }

    static func rows(_ sql: any SQLDatabase) async throws -> [Row] {
        try await sql.select().columns("purpose", "version", "wrapped", "state", "created_at", "retired_at")
            .from("meridian_data_keys").orderBy("purpose").orderBy("version").all()
            .map { row in
                Row(
                    purpose: try row.decode(column: "purpose", as: String.self),
                    version: try row.decode(column: "version", as: Int64.self),
                    wrapped: try row.decode(column: "wrapped", as: Data?.self),
                    state: try row.decode(column: "state", as: String.self),
                    createdAt: try row.decode(column: "created_at", as: Int64.self),
                    retiredAt: try row.decode(column: "retired_at", as: Int64?.self))
            }
    }

    static func aad(service: String, purpose: Purpose, version: Int64) -> Data {
        Data("meridian-data-key|\(service)|\(purpose.rawValue)|\(version)".utf8)
    }

    static func wrap(_ key: SymmetricKey, service: String, purpose: Purpose, version: Int64, master: MasterKey) throws
        -> Data
    {
        let sealed = try key.withUnsafeBytes { bytes in
            try AES.GCM.seal(
                Data(bytes), using: master.key, authenticating: aad(service: service, purpose: purpose, version: version))
        }
        // `combined` is nonce, ciphertext and tag; present for the default 12-byte nonce.
        return sealed.combined!
    }

    static func unwrap(_ wrapped: Data, service: String, purpose: Purpose, version: Int64, master: MasterKey) throws
        -> SymmetricKey
    {
        do {
            let box = try AES.GCM.SealedBox(combined: wrapped)
            let bytes = try AES.GCM.open(
                box, using: master.key, authenticating: aad(service: service, purpose: purpose, version: version))
            return SymmetricKey(data: bytes)
        } catch {
            throw FieldCipherError.wrongMasterKey(service: service)
        }
    }

    /// Inserts a key row unless one with its purpose and version exists (another replica was first); answers
    /// whether this call stored it.
    @discardableResult
    static func insert(
        _ key: SymmetricKey, service: String, purpose: Purpose, version: Int64, state: State, master: MasterKey,
        now: Int64, _ sql: any SQLDatabase
    ) async throws -> Bool {
        try await sql.insert(into: "meridian_data_keys")
            .columns("purpose", "version", "wrapped", "state", "created_at")
            .values(
                SQLBind(purpose.rawValue), SQLBind(version),
                SQLBind(try wrap(key, service: service, purpose: purpose, version: version, master: master)),
                SQLBind(state.rawValue), SQLBind(now)
            )
            .ignoringConflicts()
            .returning("version")
            .first() != nil
    }

    /// The first start's keys: data key version 1 and the blind-index seed, derived from the master key with
    /// HKDF and then stored wrapped, so that a later master rotation keeps every blind index valid.
    /// Answers the keys this call stored (none when they existed, or another replica stored them first).
    static func ensureInitialKeys(service: String, master: MasterKey, _ sql: any SQLDatabase) async throws
        -> [CreatedKey]
    {
        let now = Timestamp.micros(Date())
        let existing = try await rows(sql)
        var created: [CreatedKey] = []
        if !existing.contains(where: { $0.purpose == Purpose.data.rawValue }),
            try await insert(
                SymmetricKey(size: .bits256), service: service, purpose: .data, version: 1, state: .primary,
                master: master, now: now, sql)
        {
            created.append(CreatedKey(purpose: .data, version: 1))
        }
        if !existing.contains(where: { $0.purpose == Purpose.index.rawValue }),
            try await insert(
                master.derivedIndexSeed(service: service), service: service, purpose: .index, version: 0,
                state: .primary, master: master, now: now, sql)
        {
            created.append(CreatedKey(purpose: .index, version: 0))
        }
        return created
    }

    /// A key row `ensureInitialKeys` stored.
    struct CreatedKey: Sendable, Equatable {
        let purpose: Purpose
        let version: Int64
    }

    /// Makes a fresh data key primary; the previous primary stays readable (`active`) until re-encryption has
    /// moved every value off it. Returns the superseded primary version and the new one (for the audit record).
    static func rotate(service: String, master: MasterKey, _ sql: any SQLDatabase) async throws
        -> (previous: Int64?, version: Int64)
    {
        if sql.dialect.name == "postgresql" {
            try await sql.raw("LOCK TABLE meridian_data_keys IN EXCLUSIVE MODE").run()
        }
        let existing = try await rows(sql).filter { $0.purpose == Purpose.data.rawValue }
        // The new key must unwrap-check the master key first: rotating under a wrong master would leave a key
        // nobody else can read.
        for row in existing where row.state != State.retired.rawValue {
            if let wrapped = row.wrapped {
                _ = try unwrap(wrapped, service: service, purpose: .data, version: row.version, master: master)
            }
        }
        let version = (existing.map(\.version).max() ?? 0) + 1
        let previous = existing.first { $0.state == State.primary.rawValue }?.version
        try await sql.update("meridian_data_keys").set("state", to: SQLBind(State.active.rawValue))
            .where("purpose", .equal, SQLBind(Purpose.data.rawValue))
            .where("state", .equal, SQLBind(State.primary.rawValue)).run()
        try await insert(
            SymmetricKey(size: .bits256), service: service, purpose: .data, version: version, state: .primary,
            master: master, now: Timestamp.micros(Date()), sql)
        return (previous, version)
    }

    /// Erases a non-primary data key's material. The caller has established that no value uses it. Returns
    /// false when the key was not `active` (another replica's job retired it first): nothing changed, so
    /// nothing is to be audited.
    static func retire(version: Int64, _ sql: any SQLDatabase) async throws -> Bool {
        let retired = try await sql.update("meridian_data_keys")
            .set("state", to: SQLBind(State.retired.rawValue)).set("wrapped", to: SQLLiteral.null)
            .set("retired_at", to: SQLBind(Timestamp.micros(Date())))
            .where("purpose", .equal, SQLBind(Purpose.data.rawValue)).where("version", .equal, SQLBind(version))
            .where("state", .equal, SQLBind(State.active.rawValue))
            .returning("version").all()
        return !retired.isEmpty
    }

    /// Re-wraps every stored key from `old` to `new` master key; values are untouched.
    static func rewrap(service: String, from old: MasterKey, to new: MasterKey, _ sql: any SQLDatabase) async throws
        -> Int
    {
        var count = 0
        for row in try await rows(sql) {
            guard let wrapped = row.wrapped, let purpose = Purpose(rawValue: row.purpose) else { continue }
            let key = try unwrap(wrapped, service: service, purpose: purpose, version: row.version, master: old)
            try await sql.update("meridian_data_keys")
                .set("wrapped", to: SQLBind(try wrap(key, service: service, purpose: purpose, version: row.version, master: new)))
                .where("purpose", .equal, SQLBind(row.purpose)).where("version", .equal, SQLBind(row.version)).run()
            count += 1
        }
        return count
    }
}
