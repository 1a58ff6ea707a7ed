import Crypto
import Foundation
import MeridianKit
import SQLKit

/// The service's VAPID key pair: configured (`MERIDIAN_VAPID_PRIVATE_KEY`), or generated on first use and kept
/// sealed in the database, so every replica and every restart signs with the same key and browsers'
/// subscriptions (bound to the public key) stay valid.
actor VAPIDKeyStore {
    let database: any Database
    let sealer: Sealer
    let configured: P256.Signing.PrivateKey?
    private var loaded: P256.Signing.PrivateKey?

    static let table = "vapid_keys"
    static let rowID = "current"

    init(database: any Database, sealer: Sealer, configured: P256.Signing.PrivateKey?) {
        self.database = database
        self.sealer = sealer
        self.configured = configured
    }

    func key() async throws -> P256.Signing.PrivateKey {
        if let configured { return configured }
        if let loaded { return loaded }
        let key = try await Self.loadOrCreate(database: database, sealer: sealer)
        loaded = key
        return key
    }

    private nonisolated static func loadOrCreate(database: any Database, sealer: Sealer) async throws -> P256.Signing.PrivateKey {
        let candidate = P256.Signing.PrivateKey()
        return try await database.transaction { sql -> P256.Signing.PrivateKey in
            // Two replicas starting together both try; the first insert wins and both read it back.
            try await sql.insert(into: Self.table).columns("id", "private_key", "public_key", "created_at")
                .values(
                    SQLBind(Self.rowID),
                    SQLBind(try sealer.cipher.sealBytes(candidate.rawRepresentation, table: Self.table, column: "private_key", rowID: Self.rowID)),
                    SQLBind(candidate.publicKey.x963Representation.base64URLEncodedString),
                    SQLBind(Timestamp.micros(Date()))
                ).ignoringConflicts(with: ["id"]).run()
            guard let row = try await sql.select().column("private_key").from(Self.table)
                .where("id", .equal, SQLBind(Self.rowID)).first()
            else { throw StoredDataInconsistent(detail: "the VAPID key row is missing after its insert") }
            let raw = try sealer.cipher.openBytes(
                try row.decode(column: "private_key", as: Data.self), table: Self.table, column: "private_key",
                rowID: Self.rowID)
            return try P256.Signing.PrivateKey(rawRepresentation: raw)
        }
    }
}
