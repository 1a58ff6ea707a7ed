/// What a password must be. The upper bound is bcrypt's: it reads only the first 72 bytes, so a longer password
/// would silently have a shorter one's strength.
public enum PasswordPolicy {
    public static let byteLengths = 12...72

    /// Nil when `password` is acceptable, otherwise a message fit for a field error (never the password itself).
    public static func problem(with password: String) -> String? {
        let bytes = password.utf8.count
        guard byteLengths.contains(bytes) else {
            return "must be \(byteLengths.lowerBound) to \(byteLengths.upperBound) bytes in UTF-8 "
                + "(72 bytes is the most bcrypt reads); this one is \(bytes)"
        }
        // bcrypt takes a C string: a NUL would cut the password short without anyone noticing.
        if password.utf8.contains(0) { return "must not contain NUL characters" }
        return nil
    }
}
