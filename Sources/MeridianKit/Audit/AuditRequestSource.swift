import Foundation
import HTTPTypes

/// The client a proxy reported for the request being handled: the `for=` of the last `Forwarded` element, the
/// one the nearest proxy (the gateway) appended. Bound for the request by `AccessControlMiddleware`, read by
/// `AuditActor(context:)`. Kept out of the request context and out of log metadata: an address is personal
/// data, so it goes only into the audit record, which stores it encrypted.
public enum AuditRequestSource {
    @TaskLocal public static var forwardedFor: String?

    /// The node of the last `for=` parameter of `Forwarded` (RFC 7239), without quotes or brackets; nil when
    /// absent, `unknown`, or obfuscated beyond 64 characters.
    public static func forwardedFor(_ headers: HTTPFields) -> String? {
        guard let last = headers[values: .forwarded].last?.split(separator: ",").last else { return nil }
        for pair in last.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "for" else {
                continue
            }
            var node = parts[1].trimmingCharacters(in: .whitespaces)
            node = node.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            if node.hasPrefix("["), let close = node.firstIndex(of: "]") {
                node = String(node[node.index(after: node.startIndex)..<close])
            }
            guard !node.isEmpty, node.count <= 64, node.lowercased() != "unknown",
                node.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
            else { return nil }
            return node
        }
        return nil
    }
}
