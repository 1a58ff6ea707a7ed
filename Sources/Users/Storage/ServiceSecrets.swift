import Crypto
import Foundation
import MeridianKit
import SQLKit
import Synchronization

/// Named 256-bit keys the service makes once and keeps in its database, so that every replica derives the same
/// MACs: a login form served by one replica can be posted to another.
/// The values are `FieldCipher` ciphertext: a MAC key must be usable, so it cannot be stored as a hash.
final class ServiceSecrets: Sendable {
    let database: any Database
    let cipher: FieldCipher
    private let cache = Mutex<[String: SymmetricKey]>([:])

    static let encryptedColumns = [EncryptedColumn(table: "service_secrets", column: "value", idColumn: "name")]

    init(database: any Database, cipher: FieldCipher) {
        self.database = database
        self.cipher = cipher
    }

    func key(_ name: String) async throws -> SymmetricKey {
        if let key = cache.withLock({ $0[name] }) { return key }
        let candidate = OpaqueToken.make()
        let sealedCandidate = try cipher.seal(candidate, table: "service_secrets", column: "value", rowID: name)
        let cipher = cipher
        let value = try await database.transaction { sql -> String in
            // The first writer wins; a concurrent replica's candidate is dropped and it reads the winner's.
            try await sql.insert(into: "service_secrets").columns("name", "value", "created_at")
                .values(SQLBind(name), SQLBind(sealedCandidate), SQLBind(Timestamp.micros(Date())))
                .ignoringConflicts(with: ["name"])
                .run()
            return try await sql.select().column("value").from("service_secrets")
                .where("name", .equal, SQLBind(name)).first()
                .map {
                    try cipher.open(
                        $0.decode(column: "value", as: Data.self), table: "service_secrets", column: "value", rowID: name)
                } ?? candidate
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
