/// The rules for a user's display name.
public enum PersonName {
    public static let lengths = 1...200

    /// Nil when `text` is acceptable, otherwise a message fit for a field error.
    public static func problem(with text: String) -> String? {
        guard lengths.contains(text.count) else {
            return "must be \(lengths.lowerBound) to \(lengths.upperBound) characters"
        }
        if text.allSatisfy(\.isWhitespace) { return "must not be blank" }
        // Names end up in mail headers, where a line break would let a user inject headers of their own.
        if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "must be one line without control characters"
        }
        return nil
    }
}
