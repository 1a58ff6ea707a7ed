import HTTPTypes
import Hummingbird

/// Strong entity tags derived from a row's version number, and the `If-Match` precondition.
public enum EntityTag {
    public static func make(version: Int64) -> String { "\"v\(version)\"" }

    /// Checks `If-Match` against the current version: absent or `*` passes; a list passes when any tag matches.
    /// A stale tag is a 412 problem that tells the client which version is current.
    public static func checkIfMatch(_ request: Request, currentVersion: Int64) throws {
        guard let header = request.headers[.ifMatch] else { return }
        let current = make(version: currentVersion)
        let tags = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if tags.contains("*") || tags.contains(current) { return }
        throw Problem(
            .preconditionFailed,
            detail: "If-Match names a version that is not current; fetch the resource again and retry.",
            headers: [.eTag: current])
    }

    /// The version an `If-Match` header names, when it names exactly one of our tags.
    public static func version(fromIfMatch request: Request) -> Int64? {
        guard let header = request.headers[.ifMatch]?.trimmingCharacters(in: .whitespaces),
            header.hasPrefix("\"v"), header.hasSuffix("\""), header.count > 3
        else { return nil }
        return Int64(header.dropFirst(2).dropLast())
    }
}
