import Hummingbird
import MeridianKit

/// A write conditional on the version it read, for `PUT`/`DELETE` with `If-Match`. The write itself is
/// conditional (it changes nothing unless the version is still the one read), so a concurrent writer that wins
/// the race between read and write is noticed: the resource is read again and `If-Match` checked against the
/// new version, so a client that named the old one gets `412` with the current `ETag`, never a silent overwrite
/// and never a `412` without the tag. A writer that keeps losing gives up with `409` rather than loop.
enum ConditionalWrite {
    static let attempts = 3

    static let busy = Problem.conflict(
        "The resource kept changing while this request tried to change it; read it again and retry.")

    /// `read` answers the current state (throwing 404 when there is none); `write` applies the change to that
    /// state and answers nil when its version moved on meanwhile.
    static func run<Current: Sendable, Result: Sendable>(
        _ request: Request,
        read: () async throws -> Current,
        version: (Current) -> Int64,
        write: (Current) async throws -> Result?
    ) async throws -> Result {
        for _ in 0..<attempts {
            let current = try await read()
            try EntityTag.checkIfMatch(request, currentVersion: version(current))
            if let result = try await write(current) { return result }
        }
        throw busy
    }
}
