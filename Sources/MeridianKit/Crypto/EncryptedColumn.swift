/// One column that holds `FieldCipher` ciphertext, and the column naming its row (the `rowID` of the AAD).
/// Each service lists all of its own, so that key rotation re-encrypts every one of them and the
/// plaintext-column test knows which columns are ciphertext.
public struct EncryptedColumn: Sendable, Hashable {
    public let table: String
    public let column: String
    public let idColumn: String

    public init(table: String, column: String, idColumn: String = "id") {
        self.table = table
        self.column = column
        self.idColumn = idColumn
    }
}
