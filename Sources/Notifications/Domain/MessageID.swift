/// The RFC 5322 Message-ID of an email delivery. Derived from the delivery id alone, so every attempt of one
/// delivery carries the same id: a message the SMTP server accepted just before a crash and that is sent again
/// after it is recognisable as the same message (and mail clients collapse such duplicates).
enum MessageID {
    static func make(deliveryID: String, domain: String) -> String {
        "<\(deliveryID.lowercased())@\(domain)>"
    }

    /// The domain of a `local@domain` address, or a neutral fallback.
    static func domain(of address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return "meridian.invalid" }
        let domain = address[address.index(after: at)...]
        return domain.isEmpty ? "meridian.invalid" : String(domain)
    }
}
