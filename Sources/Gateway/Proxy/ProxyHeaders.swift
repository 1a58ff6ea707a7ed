import HTTPTypes
import Hummingbird
import MeridianKit
import NIOCore
import NIOHTTP1

/// The header rules of a forwarding proxy (RFC 9110 §7.6): hop-by-hop fields stay on their hop, the request
/// id travels end to end, and `Forwarded` (RFC 7239) records who asked through which host.
enum ProxyHeaders {
    /// Fields that describe one connection, never the message (RFC 9110 §7.6.1), lower-cased. `Proxy-*` fields
    /// are matched by prefix.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
    ]

    static func isHopByHop(_ lowercasedName: String, connectionOptions: Set<String>) -> Bool {
        hopByHop.contains(lowercasedName) || lowercasedName.hasPrefix("proxy-")
            || connectionOptions.contains(lowercasedName)
    }

    /// The field names a `Connection` header lists as hop-by-hop for this message.
    static func connectionOptions(_ values: some Sequence<String>) -> Set<String> {
        var names: Set<String> = []
        for value in values {
            for token in value.split(separator: ",") {
                let name = token.trimmingOptionalWhitespace.lowercased()
                if !name.isEmpty { names.insert(name) }
            }
        }
        return names
    }

    /// Client fields the gateway sets itself (or leaves to the client library) on the way upstream; built once,
    /// not per request.
    static let replacedOutbound: Set<String> = ["content-length", "expect", "host", "x-request-id", "forwarded"]

    /// The headers sent upstream: the client's end-to-end fields, the request id and the extended `Forwarded`.
    /// `Content-Length` is left to the client library, which derives it from the streamed body's declared length.
    static func outbound(
        _ fields: HTTPFields, requestID: String, remoteAddress: SocketAddress?, host: String?
    ) -> HTTPHeaders {
        let options = connectionOptions(fields[values: .connection])
        var headers = HTTPHeaders()
        headers.reserveCapacity(fields.count + 2)
        for field in fields {
            let name = field.name.canonicalName
            if isHopByHop(name, connectionOptions: options) || replacedOutbound.contains(name) { continue }
            headers.add(name: field.name.rawName, value: field.value)
        }
        headers.add(name: "X-Request-Id", value: requestID)
        headers.add(name: "Forwarded", value: forwarded(fields, remoteAddress: remoteAddress, host: host))
        return headers
    }

    /// The `Forwarded` value to send on: the client's elements, then ours, in one string (no intermediate
    /// arrays per request).
    static func forwarded(_ fields: HTTPFields, remoteAddress: SocketAddress?, host: String?) -> String {
        var forwarded = ""
        for earlier in fields[values: .forwarded] where !earlier.isEmpty {
            forwarded += earlier
            forwarded += ", "
        }
        forwarded += forwardedElement(remoteAddress: remoteAddress, host: host)
        return forwarded
    }

    /// The upstream's response headers minus its hop-by-hop fields. `Content-Length` stays: it is end to end,
    /// and keeping it spares the client chunked framing.
    static func inbound(_ headers: HTTPHeaders) -> HTTPFields {
        let options = connectionOptions(headers["connection"])
        var fields = HTTPFields()
        fields.reserveCapacity(headers.count)
        for (name, value) in headers {
            // The field name's canonical form is already lower-case: no second lower-cased copy per header.
            guard let fieldName = HTTPField.Name(name), !isHopByHop(fieldName.canonicalName, connectionOptions: options)
            else { continue }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        return fields
    }

    /// One `Forwarded` element: `for=<client>;proto=http;host=<Host the client used>`.
    static func forwardedElement(remoteAddress: SocketAddress?, host: String?) -> String {
        var node = "unknown"
        if let address = remoteAddress, let ip = address.ipAddress {
            // IPv6 nodes are bracketed and therefore quoted (RFC 7239 §6).
            if case .v6 = address { node = "\"[\(ip)]\"" } else { node = ip }
        }
        var element = "for=\(node);proto=http"
        if let host, !host.isEmpty { element += ";host=\(value(host))" }
        return element
    }

    /// A parameter value: a token as is, anything else (a `host:port`, say) as a quoted string.
    static func value(_ text: String) -> String {
        if text.utf8.allSatisfy(isTokenCharacter) { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars where scalar.value >= 0x20 && scalar.value != 0x7F {
            if scalar == "\"" || scalar == "\\" { quoted.append("\\") }
            quoted.unicodeScalars.append(scalar)
        }
        return quoted + "\""
    }

    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
