import Foundation

/// The rules for redirect URIs. Registration admits only URIs that cannot hand a code to someone else, and a
/// request must name a registered URI exactly (RFC 9700 section 4.1.3): no prefix, path or wildcard matching.
/// The one exception is RFC 8252 section 7.3: a native app listening on a loopback interface gets whatever port
/// the operating system gives it, so a loopback URI matches a registered one whatever its port.
enum RedirectURI {
    static let maxLength = 2000

    /// Nil when `uri` may be registered, otherwise why not (a message fit for a field error).
    static func problem(with uri: String) -> String? {
        guard (1...maxLength).contains(uri.utf8.count) else { return "must be 1 to \(maxLength) bytes" }
        guard uri.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return "must be printable ASCII without spaces"
        }
        guard let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased() else {
            return "must be an absolute URI"
        }
        if components.fragment != nil || uri.contains("#") { return "must not contain a fragment" }
        if components.user != nil || components.password != nil { return "must not contain user information" }
        switch scheme {
        case "https":
            guard let host = components.host, !host.isEmpty else { return "must name a host" }
            return nil
        case "http":
            // Plain HTTP only where the request never leaves the machine. `localhost` is excluded: it can be
            // resolved to another address (RFC 8252 section 8.3).
            guard loopback(uri) != nil else {
                return "must use https, or http with the loopback address 127.0.0.1 or [::1]"
            }
            return nil
        default:
            // Private-use schemes of native apps must be reverse domain names (RFC 8252 section 7.1), which
            // keeps them from colliding with another app's scheme.
            guard scheme.contains("."), !scheme.hasPrefix("."), !scheme.hasSuffix(".") else {
                return "must use https, loopback http, or a reverse-domain private-use scheme"
            }
            return nil
        }
    }

    /// Whether the requested URI is the registered one: byte for byte, or for loopback URIs the same address,
    /// path and query on any port.
    static func matches(requested: String, registered: String) -> Bool {
        if requested == registered { return true }
        guard let asked = loopback(requested), let known = loopback(registered) else { return false }
        return asked.address == known.address && asked.rest == known.rest
    }

    /// The first registered URI `requested` matches.
    static func match(_ requested: String, in registered: [String]) -> String? {
        registered.first { matches(requested: requested, registered: $0) }
    }

    struct Loopback: Equatable {
        var address: String
        var port: Int?
        /// Everything after the port: path and query.
        var rest: String
    }

    /// Splits `http://127.0.0.1[:port]/…` and `http://[::1][:port]/…` by hand rather than with a URL parser,
    /// so that what is compared is exactly what the client sent: `http://127.0.0.1@evil.example/` and
    /// `http://127.0.0.1.evil.example/` are not loopback URIs.
    static func loopback(_ uri: String) -> Loopback? {
        for address in ["http://127.0.0.1", "http://[::1]"] where uri.hasPrefix(address) {
            var rest = Substring(uri.dropFirst(address.count))
            var port: Int?
            if rest.hasPrefix(":") {
                let digits = rest.dropFirst().prefix { $0.isASCII && $0.isNumber }
                guard (1...5).contains(digits.count), let number = Int(digits), (1...65535).contains(number) else {
                    return nil
                }
                port = number
                rest = rest.dropFirst(1 + digits.count)
            }
            guard rest.isEmpty || rest.hasPrefix("/") || rest.hasPrefix("?") else { return nil }
            if rest.contains("#") { return nil }
            return Loopback(address: address, port: port, rest: rest.isEmpty ? "/" : String(rest))
        }
        return nil
    }

    /// The origin (`scheme://host[:port]`) a browser navigates to, for the login page's `form-action`.
    static func origin(of uri: String) -> String? {
        guard let components = URLComponents(string: uri), let scheme = components.scheme else { return nil }
        guard let host = components.percentEncodedHost, !host.isEmpty else { return scheme + ":" }
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "\(scheme)://\(bracketed)" + (components.port.map { ":\($0)" } ?? "")
    }

    /// `uri` with `parameters` added to its query (RFC 6749 section 4.1.2: the query of a registered URI is kept).
    static func appending(_ parameters: [(String, String)], to uri: String) -> String {
        let query = FormEncoding.encode(parameters)
        guard !query.isEmpty else { return uri }
        return uri + (uri.contains("?") ? "&" : "?") + query
    }
}
