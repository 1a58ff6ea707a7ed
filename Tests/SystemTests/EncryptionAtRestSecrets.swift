import Foundation
import MeridianKit

extension EncryptionAtRestTests {
    /// One value a probe wrote through the API: none of its forms may appear in the raw storage, and after the
    /// run each column in `columns` must hold it as ciphertext (so that a clean scan means something).
    struct Secret: Sendable {
        /// Named in every failure: which field the value was written to.
        let field: String
        /// `service.table.column` of each encrypted column the value lands in. Empty for a value that must
        /// never be stored at all (a code or token kept only as its hash).
        let columns: [String]
        /// The byte strings to look for. A text value is also looked for by its marker alone, which survives
        /// any quoting (JSON's `\/`, `pg_dump`'s escapes) that could hide the whole value.
        let forms: [Data]

        /// A text value holding the marker `token`.
        static func text(_ field: String, _ value: String, token: String, in columns: [String]) -> Secret {
            precondition(value.contains(token), "the value of \(field) must hold its marker")
            let forms = value == token ? [value] : [value, token]
            return Secret(field: field, columns: columns, forms: forms.map { Data($0.utf8) })
        }

        /// Random bytes the API takes as base64url: looked for as the raw bytes (a BLOB), the base64url text
        /// the client sent, and hex (how `pg_dump` prints a `bytea`).
        static func bytes(_ field: String, _ raw: Data, in columns: [String]) -> Secret {
            Secret(
                field: field, columns: columns,
                forms: [raw, Data(SignIn.base64URL(raw).utf8), Data(raw.hexString.utf8)])
        }

        /// How a form reads in a failure message.
        static func describe(_ form: Data) -> String {
            String(data: form, encoding: .utf8).flatMap { text in
                text.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 } ? text : nil
            } ?? "<\(form.count) raw bytes>"
        }
    }

    /// Mints the markers of one probe: each call gives a new one, distinct from every other in the run
    /// (probe index, tag and 48 random bits), lower-case so that it fits host names and email addresses.
    struct MarkerMint: Sendable {
        let probe: Int

        func callAsFunction(_ tag: String) -> String {
            let random = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12)
            return "mrk\(probe)\(tag)x\(random)"
        }
    }
}
