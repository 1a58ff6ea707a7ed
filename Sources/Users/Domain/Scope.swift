/// OAuth scopes (RFC 6749 section 3.3): space-separated tokens of visible ASCII except `"` and `\`. Meridian
/// treats them as labels a client may be granted; what a token may do comes from the subject's roles.
enum Scope {
    static let maxTokens = 50
    static let maxTokenLength = 100
    /// The scope created clients are given when none is named.
    static let defaultScopes = ["api"]

    /// The distinct tokens of a `scope` parameter, in order, or nil when it is not a valid scope value.
    static func parse(_ value: String) -> [String]? {
        let tokens = value.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard !tokens.isEmpty, tokens.count <= maxTokens, tokens.allSatisfy(isValidToken) else { return nil }
        var seen: Set<String> = []
        return tokens.filter { seen.insert($0).inserted }
    }

    static func isValidToken(_ token: String) -> Bool {
        (1...maxTokenLength).contains(token.utf8.count)
            && token.utf8.allSatisfy { $0 == 0x21 || (0x23...0x5B).contains($0) || (0x5D...0x7E).contains($0) }
    }

    static func join(_ tokens: [String]) -> String { tokens.joined(separator: " ") }
}
