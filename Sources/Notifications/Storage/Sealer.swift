import Foundation
import MeridianKit

/// Seals and opens the service's user-supplied values with its `FieldCipher`: each value bound to its table,
/// column and row, so a ciphertext moved to another row or column no longer opens.
struct Sealer: Sendable {
    let cipher: FieldCipher

    func seal(_ value: String, _ table: String, _ column: String, _ rowID: String) throws -> Data {
        try cipher.seal(value, table: table, column: column, rowID: rowID)
    }

    func open(_ sealed: Data, _ table: String, _ column: String, _ rowID: String) throws -> String {
        try cipher.open(sealed, table: table, column: column, rowID: rowID)
    }

    func sealJSON(_ value: some Encodable, _ table: String, _ column: String, _ rowID: String) throws -> Data {
        let json = try JSONEncoder().encode(value)
        return try cipher.sealBytes(json, table: table, column: column, rowID: rowID)
    }

    func openJSON<T: Decodable>(
        _ type: T.Type, _ sealed: Data, _ table: String, _ column: String, _ rowID: String
    ) throws -> T {
        let json = try cipher.openBytes(sealed, table: table, column: column, rowID: rowID)
        return try JSONDecoder().decode(type, from: json)
    }

    func blindIndex(_ value: String, _ table: String, _ column: String) -> String {
        cipher.blindIndex(value, table: table, column: column)
    }
}

/// The sealed columns of the notifications schema, for key rotation and the plaintext-at-rest test.
public enum NotificationsEncryptedColumns {
    public static let all: [EncryptedColumn] = [
        EncryptedColumn(table: "notifications", column: "content", idColumn: "id"),
        EncryptedColumn(table: "notifications", column: "address", idColumn: "id"),
        EncryptedColumn(table: "delivery_attempts", column: "answer", idColumn: "id"),
        EncryptedColumn(table: "notification_templates", column: "content", idColumn: "id"),
        EncryptedColumn(table: "push_subscriptions", column: "endpoint", idColumn: "id"),
        EncryptedColumn(table: "push_subscriptions", column: "p256dh", idColumn: "id"),
        EncryptedColumn(table: "push_subscriptions", column: "auth", idColumn: "id"),
        EncryptedColumn(table: "vapid_keys", column: "private_key", idColumn: "id"),
    ]
}
