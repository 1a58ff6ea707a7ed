import Foundation
import MeridianKit

/// The requests the gateway's access check refuses (401, 403). The gateway keeps no database, so it reports
/// them to analytics (`POST /internal/analytics/denials`, docs/gateway.md), which appends them to its audit
/// log as `request.deny` records. The refusal only enqueues: the client's 401 or 403 never waits on the report.
struct DeniedRequests: RequestDenialRecorder {
    let buffer: ReportBuffer<RequestDenial>
    let counters: ReportCounters

    static let path = "/internal/analytics/denials"

    func record(_ denial: RequestDenial) async {
        var denial = denial
        denial.deniedAt = Date()
        if buffer.append(denial) {
            counters.recorded.increment()
        } else {
            counters.dropped.increment()
        }
    }

    /// `{"denials": [...]}`: each refusal with its caller as far as known, its request and trace ids, and its
    /// source address (personal data, which analytics stores encrypted in the audit record).
    static func json(_ denials: [RequestDenial]) -> [UInt8] {
        func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        let items: [JSONValue] = denials.map { denial in
            .object([
                "denied_at": optional(denial.deniedAt.map(Timestamp.format)),
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
