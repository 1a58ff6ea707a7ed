extension Substring {
    /// Without leading and trailing spaces and tabs (RFC 9110 OWS). Not Foundation's `trimmingCharacters(in:)`,
    /// which on Linux bridges through NSString: 69 µs for a 1 KB bearer token against 0.7 µs here, paid on every
    /// token check and every proxied response.
    public var trimmingOptionalWhitespace: Substring {
        var text = self
        while let first = text.utf8.first, first == 0x20 || first == 0x09 { text = text.dropFirst() }
        while let last = text.utf8.last, last == 0x20 || last == 0x09 { text = text.dropLast() }
        return text
    }
}
