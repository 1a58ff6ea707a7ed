/// Notification categories are short lower-case names chosen by the sender (`marketing`, `orders`, …). A few are
/// critical: the recipient cannot opt out of them, because they must learn about their account and their money.
enum Category {
    static let security = "security"
    static let receipts = "receipts"
    static let orders = "orders"
    static let critical: Set<String> = [security, receipts]

    static func isCritical(_ category: String) -> Bool { critical.contains(category) }

    /// `[a-z][a-z0-9_-]{0,39}`: safe in logs and metrics labels, never personal data.
    static func isValid(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 40, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first)
        else { return false }
        return name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}
