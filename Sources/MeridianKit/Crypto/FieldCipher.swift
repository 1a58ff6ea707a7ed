import Crypto
import Foundation
import Synchronization

/// Seals the values a service stores: AES-256-GCM under the service's primary data key, a fresh random 96-bit
/// nonce per value, and AAD binding the ciphertext to service, table, column and row id, so a value copied to
/// another row, column, table or service fails to open.
///
/// Format: 4-byte big-endian key version, 12-byte nonce, ciphertext, 16-byte tag. The version in front lets a
/// value sealed before a rotation still open, and lets the rotation job find the values it must re-encrypt.
///
/// Created with the service (nothing read yet); `load()` runs in the service's `prepare` after migrations and
/// again whenever the key set may have changed (the rotation job reloads it periodically).
public final class FieldCipher: Sendable {
    public let service: String
    let database: any Database
    let masterKey: MasterKey

    struct Keys: Sendable {
        var dataKeys: [UInt32: SymmetricKey]
        var primary: UInt32
        var indexKey: SymmetricKey
    }

    private let keys = Mutex<Keys?>(nil)

    static let versionLength = 4
    static let nonceLength = 12
    static let tagLength = 16

    public init(service: String, database: any Database, masterKey: MasterKey) {
        self.service = service
        self.database = database
        self.masterKey = masterKey
    }

    /// Creates the first data key and the blind-index seed on first start, then unwraps every usable version.
    /// Throws `FieldCipherError.wrongMasterKey` when the configured master key is not the one they were
    /// wrapped with.
    ///
    /// Creating the keys is a state mutation like any other: each is audited in the transaction that stores
    /// it (`data_key.create`, `index_key.create`), its record sealed with the key just created, so the keys are
    /// in use before the commit; a failed commit puts the previous keys back. `checkpoints` is the service's
    /// audit policy, so those first records are signed as its others are.
    public func load(checkpoints: AuditCheckpointPolicy = .standard) async throws {
        let previous = keys.withLock { $0 }
        do {
            try await database.transaction { sql in
                let created = try await DataKeyStore.ensureInitialKeys(service: self.service, master: self.masterKey, sql)
                let loaded = try unwrap(try await DataKeyStore.rows(sql))
                keys.withLock { $0 = loaded }
                let audit = AuditLog(service: service, cipher: self, checkpoints: checkpoints)
                for key in created { try await audit.append(KeyAudit.keyCreated(key), on: sql) }
            }
        } catch {
            keys.withLock { $0 = previous }
            throw error
        }
    }

    private func unwrap(_ rows: [DataKeyStore.Row]) throws -> Keys {
        var dataKeys: [UInt32: SymmetricKey] = [:]
        var primary: UInt32?
        var indexKey: SymmetricKey?
        for row in rows {
            guard let wrapped = row.wrapped, let purpose = DataKeyStore.Purpose(rawValue: row.purpose) else { continue }
            let key = try DataKeyStore.unwrap(
                wrapped, service: service, purpose: purpose, version: row.version, master: masterKey)
            switch purpose {
            case .data:
                let version = UInt32(row.version)
                dataKeys[version] = key
                if row.state == DataKeyStore.State.primary.rawValue { primary = version }
            case .index:
                // The blind-index key is derived from the stored seed, never used as the seed itself.
                indexKey = HKDF<SHA256>.deriveKey(
                    inputKeyMaterial: key, info: Array("meridian blind index \(service)".utf8), outputByteCount: 32)
            }
        }
        guard let primary, let indexKey else { throw FieldCipherError.notLoaded(service: service) }
        return Keys(dataKeys: dataKeys, primary: primary, indexKey: indexKey)
    }

    /// The version new values are sealed with.
    public var primaryVersion: UInt32? { keys.withLock { $0?.primary } }

    /// The key versions this cipher can open.
    public var loadedVersions: [UInt32] {
        keys.withLock { state in state.map { Array($0.dataKeys.keys).sorted() } ?? [] }
    }

    public func seal(_ plaintext: String, table: String, column: String, rowID: String) throws -> Data {
        try sealBytes(Data(plaintext.utf8), table: table, column: column, rowID: rowID)
    }

    public func open(_ sealed: Data, table: String, column: String, rowID: String) throws -> String {
        let bytes = try openBytes(sealed, table: table, column: column, rowID: rowID)
        guard let text = String(data: bytes, encoding: .utf8) else { throw FieldCipherError.malformed }
        return text
    }

    public func sealBytes(_ plaintext: some DataProtocol, table: String, column: String, rowID: String) throws -> Data {
        guard let keys = keys.withLock({ $0 }) else { throw FieldCipherError.notLoaded(service: service) }
        return try seal(plaintext, version: keys.primary, key: keys.dataKeys[keys.primary]!, table: table,
            column: column, rowID: rowID)
    }

    public func openBytes(_ sealed: Data, table: String, column: String, rowID: String) throws -> Data {
        guard let keys = keys.withLock({ $0 }) else { throw FieldCipherError.notLoaded(service: service) }
        let version = try FieldCipher.version(of: sealed)
        guard let key = keys.dataKeys[version] else { throw FieldCipherError.unknownKeyVersion(version) }
        let body = sealed.dropFirst(FieldCipher.versionLength)
        do {
            let box = try AES.GCM.SealedBox(combined: body)
            return try AES.GCM.open(
                box, using: key,
                authenticating: aad(version: version, table: table, column: column, rowID: rowID))
        } catch {
            throw FieldCipherError.authenticationFailed(table: table, column: column, rowID: rowID)
        }
    }

    /// HMAC-SHA256 under the blind-index key, hex. Equal inputs give equal indexes, so a unique constraint and
    /// an equality lookup work on it; normalising the input (lower-casing an email) is the caller's job.
    /// The cipher must be loaded: the service's `prepare` does so before it takes traffic.
    public func blindIndex(_ value: String, table: String, column: String) -> String {
        guard let key = keys.withLock({ $0?.indexKey }) else {
            preconditionFailure("FieldCipher.blindIndex for \(service) before load(): prepare runs load()")
        }
        var message = Data()
        for part in [table, column, value] { FieldCipher.appendLengthPrefixed(part, to: &message) }
        return HMAC<SHA256>.authenticationCode(for: message, using: key).hexString
    }

    /// The key version in front of a sealed value.
    public static func version(of sealed: Data) throws -> UInt32 {
        guard sealed.count >= versionLength + nonceLength + tagLength else { throw FieldCipherError.malformed }
        return sealed.prefix(versionLength).reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The 4 bytes a value sealed under `version` starts with (the rotation job compares them in SQL).
    public static func versionPrefix(_ version: UInt32) -> Data {
        Data([UInt8(version >> 24 & 0xFF), UInt8(version >> 16 & 0xFF), UInt8(version >> 8 & 0xFF), UInt8(version & 0xFF)])
    }

    /// Re-seals a value under the primary key if it is on another version; nil when it already is.
    func resealed(_ sealed: Data, table: String, column: String, rowID: String) throws -> Data? {
        guard let keys = keys.withLock({ $0 }) else { throw FieldCipherError.notLoaded(service: service) }
        guard try FieldCipher.version(of: sealed) != keys.primary else { return nil }
        let plaintext = try openBytes(sealed, table: table, column: column, rowID: rowID)
        return try seal(plaintext, version: keys.primary, key: keys.dataKeys[keys.primary]!, table: table,
            column: column, rowID: rowID)
    }

    private func seal(
        _ plaintext: some DataProtocol, version: UInt32, key: SymmetricKey, table: String, column: String,
        rowID: String
    ) throws -> Data {
        // AES.GCM.seal draws a fresh random 96-bit nonce for every call.
        let box = try AES.GCM.seal(
            plaintext, using: key, authenticating: aad(version: version, table: table, column: column, rowID: rowID))
        return FieldCipher.versionPrefix(version) + box.combined!
    }

    /// service|table|column|rowID, each length-prefixed so that no two different locations share an AAD
    /// (`a|b` + `c` is not `a` + `b|c`), plus the key version so the version in front cannot be swapped.
    private func aad(version: UInt32, table: String, column: String, rowID: String) -> Data {
        var data = Data("meridian-field-v1".utf8)
        data.append(FieldCipher.versionPrefix(version))
        for part in [service, table, column, rowID] { FieldCipher.appendLengthPrefixed(part, to: &data) }
        return data
    }

    private static func appendLengthPrefixed(_ part: String, to data: inout Data) {
        let bytes = Array(part.utf8)
        data.append(versionPrefix(UInt32(bytes.count)))
        data.append(contentsOf: bytes)
    }
}
