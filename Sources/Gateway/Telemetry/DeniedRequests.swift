import Foundation
import MeridianKit
import Synchronization

/// The requests the gateway's access check refuses (401). The gateway keeps no database, so it reports them
/// to analytics (`POST /internal/analytics/denials`, docs/gateway.md), which appends them to its audit log as
/// `request.deny` records. Alike refusals (route, status, reason, caller and source) within one reporting window
/// are one report with a count: anyone can send requests with bad tokens, and a flood of them must not become a
/// flood of audit records. The refusal only takes a lock: the client's 401 never waits on its report.
final class DeniedRequests: RequestDenialRecorder {
    /// The distinct refusals waiting for the reporter, in arrival order; beyond `capacity` new ones are dropped
    /// (and counted), while refusals alike to a waiting one are still counted into it.
    private struct Window {
        var order: [String] = []
        var denials: [String: RequestDenial] = [:]
    }

    let capacity: Int
    let counters: ReportCounters
    private let window = Mutex(Window())

    static let path = "/internal/analytics/denials"

    init(capacity: Int, counters: ReportCounters) {
        self.capacity = max(1, capacity)
        self.counters = counters
    }

    func record(_ denial: RequestDenial) async {
        let now = Date()
        let actor = denial.actor
        let key = [
            denial.route, String(denial.status), denial.reason, actor.sourceAddress ?? "", actor.subject ?? "",
            actor.clientID ?? "",
        ].joined(separator: "\u{1F}")
        let taken = window.withLock { window -> Bool in
            if var waiting = window.denials[key] {
                waiting.count += 1
                waiting.lastDeniedAt = now
                window.denials[key] = waiting
                return true
            }
            guard window.order.count < capacity else { return false }
            var first = denial
            first.deniedAt = now
            window.order.append(key)
            window.denials[key] = first
            return true
        }
        (taken ? counters.recorded : counters.dropped).increment()
    }

    /// Takes up to `limit` of the oldest waiting reports.
    func drain(upTo limit: Int) -> [RequestDenial] {
        window.withLock { window in
            let keys = window.order.prefix(limit)
            window.order.removeFirst(keys.count)
            return keys.compactMap { window.denials.removeValue(forKey: $0) }
        }
    }

    /// `{"denials": [...]}`: each report with its caller as far as known, the first request's id and trace, the
    /// source address (personal data, which analytics stores encrypted in the audit record) and how many alike
    /// refusals it stands for.
    static func json(_ denials: [RequestDenial]) -> [UInt8] {
        func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        let items: [JSONValue] = denials.map { denial in
            .object([
                "denied_at": optional(denial.deniedAt.map(Timestamp.format)),
                "last_denied_at": optional(denial.lastDeniedAt.map(Timestamp.format)),
                "count": .integer(Int64(denial.count)),
                "route": .string(denial.route),
                "status": .integer(Int64(denial.status)),
                "reason": .string(denial.reason),
                "subject": optional(denial.actor.subject),
                "client_id": optional(denial.actor.clientID),
                "roles": .array(denial.actor.roles.map(JSONValue.string)),
                "request_id": optional(denial.actor.requestID),
                "trace_id": optional(denial.actor.traceID),
                "source_address": optional(denial.actor.sourceAddress),
            ])
        }
        return JSONValue.object(["denials": .array(items)]).serialized()
    }
}
