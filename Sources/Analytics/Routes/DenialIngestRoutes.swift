import Foundation
import Hummingbird
import Logging
import MeridianKit

/// `POST /internal/analytics/denials`: the requests the gateway's token check refused (401, 403), sent with the
/// platform's service token (docs/gateway.md "Refused requests in the audit log"). The gateway keeps no
/// database, so they are appended here, to analytics' audit log, as `request.deny` records naming the gateway
/// as the reporter, all of a batch in one transaction.
///
/// Only the platform's own service client (`ServiceSettings.serviceClient`, which the gateway uses) may report:
/// `analytics:write` alone would let any script or administrator write records in another caller's name.
struct DenialIngestRoutes: Sendable {
    let denials: AuditDenials
    let database: any Database
    /// The client id of the platform's service client; nil when none is configured, and then nobody reports.
    let reporter: String?

    static let maxDenials = 1000
    /// Far above what an account holds (the users service allows 50), so no real caller is refused for it.
    static let maxRoles = 200

    func register(on router: Router<MeridianRequestContext>) {
        router.post("/internal/analytics/denials") { request, context in try await ingest(request, context) }
    }

    func ingest(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        guard let reporter, context.principal?.clientID == reporter else {
            throw Problem(
                .forbidden, type: Problem.typeBase + "insufficient-permission", title: "Forbidden",
                detail: "Only the platform's service client reports refused requests.")
        }
        var body = try await request.fieldReader(context: context)
        if case .array(let items) = body.raw("denials"), items.count > Self.maxDenials {
            throw Problem.batchTooLarge("The batch has \(items.count) denials; at most \(Self.maxDenials) are accepted.")
        }
        let reported = body.objects("denials", maxCount: Self.maxDenials) { Self.read(&$0) }
        try body.finish()
        let batch = reported ?? []
        try await database.transaction { sql in try await denials.append(batch, on: sql) }
        return try Response.json(["recorded": batch.count], status: .accepted)
    }

    /// One refusal, read strictly: the gateway is the only writer, so a bad one is a bug to surface (422).
    static func read(_ item: inout FieldReader) -> RequestDenial? {
        let deniedAt = item.time("denied_at")
        let lastDeniedAt = item.raw("last_denied_at") == nil ? nil : item.time("last_denied_at")
        let count = item.optionalInteger("count", in: 1...Int64(Int32.max)) ?? 1
        let route = item.string("route", maxLength: 300)
        let status = item.integer("status", in: 401...403).flatMap { status -> Int64? in
            guard status != 402 else {
                item.fail("status", "must be 401 or 403")
                return nil
            }
            return status
        }
        let reason = item.string("reason", maxLength: 40).flatMap { reason -> String? in
            guard RequestDenial.reasons.contains(reason) else {
                item.fail("reason", "must be one of \(RequestDenial.reasons.sorted().joined(separator: ", "))")
                return nil
            }
            return reason
        }
        let subject = item.optionalString("subject", minLength: 1, maxLength: BatchLimits.maxIDLength)
        let clientID = item.optionalString("client_id", minLength: 1, maxLength: BatchLimits.maxIDLength)
        let roles = item.raw("roles").flatMap { value -> [String]? in
            guard case .array(let elements) = value, elements.count <= Self.maxRoles else {
                item.fail("roles", "must be an array of at most \(Self.maxRoles) role names")
                return nil
            }
            var roles: [String] = []
            for element in elements {
                guard case .string(let role) = element, (1...64).contains(role.unicodeScalars.count) else {
                    item.fail("roles", "must hold role names of 1 to 64 characters")
                    return nil
                }
                roles.append(role)
            }
            return roles
        }
        let requestID = item.optionalString("request_id", minLength: 1, maxLength: 200)
        let traceID = item.optionalString("trace_id", minLength: 32, maxLength: 32)
        let source = item.optionalString("source_address", minLength: 1, maxLength: 200)
        guard let deniedAt, let route, let status, let reason else { return nil }
        return RequestDenial(
            route: route, status: Int(status), reason: reason,
            actor: AuditActor(
                subject: subject, clientID: clientID, roles: roles ?? [], requestID: requestID, traceID: traceID,
                sourceAddress: source),
            reportedBy: "gateway", deniedAt: deniedAt, count: Int(count), lastDeniedAt: lastDeniedAt)
    }
}
