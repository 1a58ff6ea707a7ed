/// An email address as Meridian accepts it: deliberately simple rules (RFC 5322's full grammar admits
/// addresses no mail system routes) that catch typing mistakes without rejecting real addresses.
public struct EmailAddress: Sendable, Equatable {
    /// As given; shown back to the user and used to send mail.
    public let value: String
    /// Lower-cased: two addresses that differ only in case belong to one account.
    public let normalized: String

    public static let lengths = 3...254

    /// The address, or why it is not one (a message fit for a field error).
    public static func parse(_ text: String) -> Result<EmailAddress, Invalid> {
        if let reason = problem(with: text) { return .failure(Invalid(message: reason)) }
        return .success(EmailAddress(value: text, normalized: normalize(text)))
    }

    public struct Invalid: Error, Sendable, Equatable {
        public let message: String
    }

    /// The form addresses are compared in, also for lookups such as `?email=`.
    public static func normalize(_ text: String) -> String { text.lowercased() }

    private static func problem(with text: String) -> String? {
        guard lengths.contains(text.count) else {
            return "must be \(lengths.lowerBound) to \(lengths.upperBound) characters"
        }
        if text.contains(where: { $0.isWhitespace || $0.unicodeScalars.contains { $0.properties.generalCategory == .control } }) {
            return "must not contain spaces or control characters"
        }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return "must contain exactly one @" }
        guard !parts[0].isEmpty else { return "must have a name before the @" }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty }) else {
            return "must have a domain with a dot after the @, like example.com"
        }
        return nil
    }
}
