import Crypto
import Foundation
import MeridianKit
import SQLKit
import Synchronization

/// Named 256-bit keys the service makes once and keeps in its database, so that every replica derives the same
/// MACs: a login form served by one replica can be posted to another.
final class ServiceSecrets: Sendable {
    let database: any Database
    private let cache = Mutex<[String: SymmetricKey]>([:])

    init(database: any Database) {
        self.database = database
    }

    func key(_ name: String) async throws -> SymmetricKey {
        if let key = cache.withLock({ $0[name] }) { return key }
        let candidate = OpaqueToken.make()
        let value = try await database.transaction { sql -> String in
            // The first writer wins; a concurrent replica's candidate is dropped and it reads the winner's.
            try await sql.insert(into: "service_secrets").columns("name", "value", "created_at")
                .values(SQLBind(name), SQLBind(candidate), SQLBind(Timestamp.micros(Date())))
                .ignoringConflicts(with: ["name"])
                .run()
            return try await sql.select().column("value").from("service_secrets")
                .where("name", .equal, SQLBind(name)).first()
                .map { try $0.decode(column: "value", as: String.self) } ?? candidate
        }
        let key = SymmetricKey(data: Array(value.utf8))
        cache.withLock { $0[name] = key }
        return key
    }

    /// HMAC-SHA256 of `message` under the named key, base64url.
    func mac(_ message: String, key name: String) async throws -> String {
        let key = try await key(name)
        return Base64URL.encode(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key))
    }
}
