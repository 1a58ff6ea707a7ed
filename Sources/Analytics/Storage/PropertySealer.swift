import Foundation
import MeridianKit

/// Seals event properties with the service's `FieldCipher`, each bound to its event's row, so a ciphertext moved
/// to another event no longer opens.
struct PropertySealer: Sendable {
    static let table = "analytics_events"
    static let column = "properties"

    let cipher: FieldCipher

    func seal(_ properties: JSONValue, eventID: String) throws -> Data {
        try cipher.sealBytes(properties.serialized(), table: PropertySealer.table, column: PropertySealer.column, rowID: eventID)
    }

    func open(_ sealed: Data, eventID: String) throws -> JSONValue {
        let bytes = try cipher.openBytes(sealed, table: PropertySealer.table, column: PropertySealer.column, rowID: eventID)
        return try JSONValue.parse(bytes)
    }
}

/// The sealed columns of the analytics schema, for key rotation and the plaintext-at-rest test.
public enum AnalyticsEncryptedColumns {
    public static let all: [EncryptedColumn] = [
        EncryptedColumn(table: PropertySealer.table, column: PropertySealer.column, idColumn: "event_id")
    ]
}
