import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MeridianKit
import NIOCore
import NIOHTTP1

/// `GET /api/audit`: the audit records of every service in one list, oldest first, for a reviewer who wants the
/// platform's trail in one place. Each service keeps its own hash chain and serves it at `/api/audit/<service>`;
/// this route reads one page of each with the caller's token and the same filters, and merges them by time. The
/// gateway checks `audit:read` first (a refused caller costs no call to any service); each service checks it
/// again, and any refusal of theirs (401, 403, 400) is the answer.
struct AuditTrailRoute: Sendable {
    static let path = "/api/audit"
    /// Every service that keeps an audit log, in the order that breaks ties between records of the same time.
    static let auditedServices = ["users", "orders", "notifications", "analytics"]
    /// The largest page a service may answer: its longest page (200 records) with records of up to 40 KiB
    /// each, far above what an audit record holds (an action, ids and a few details).
    static let maxPageBytes = 8 << 20
    /// The clients of `auditedServices`, in that order.
    let services: [ServiceClient]
    let rateLimits: RateLimitGate?

    func register(on router: Router<MeridianRequestContext>) {
        router.get(RouterPath(Self.path)) { request, context in try await list(request, context: context) }
    }

    func list(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        var query = QueryReader(request, known: AuditRoutes.parameters)
        let page = PageRequest(reading: &query)
        var after: [String: Int64] = [:]
        if let cursor = page.after {
            if let positions = AuditTrailCursor.positions(cursor, services: services.map(\.service)) {
                after = positions
            } else {
                query.fail("cursor", "is not a cursor this API issued")
            }
        }
        try query.finish()
        let limitHeaders = try await rateLimits?.check(.reads, context: context) ?? [:]

        // As a proxied request would carry them: the caller's token, the trace, and who the client is (for the
        // records of the services' own refusals).
        let forwarded =
            [
                (
                    "Forwarded",
                    ProxyHeaders.forwarded(
                        request.headers, remoteAddress: context.remoteAddress, host: request.head.authority)
                )
            ]
            + [HTTPField.Name.authorization, TraceContext.traceparentHeader, TraceContext.tracestateHeader]
            .compactMap { name in request.headers[name].map { (name.rawName, $0) } }
        let requestID = context.requestID
        let filters = Self.filters(of: request)
        let pages = try await withThrowingTaskGroup(of: (Int, ServicePage).self) { group in
            for (index, service) in services.enumerated() {
                var parameters = filters + ["limit=\(page.limit)"]
                if let position = after[service.service] {
                    parameters.append("cursor=" + PageRequest.encodeCursor(String(position)))
                }
                let path = AuditRoutes.path(service: service.service) + "?" + parameters.joined(separator: "&")
                group.addTask {
                    let reply: ServiceClient.Reply
                    do {
                        reply = try await service.send(
                            .GET, path, headers: forwarded, requestID: requestID, maxBytes: Self.maxPageBytes)
                    } catch is ServiceClient.ReplyTooLarge {
                        throw Problem(
                            .badGateway,
                            detail: "The \(service.service) service answered a page of audit records longer than "
                                + "\(Self.maxPageBytes / (1 << 20)) MiB; ask for fewer with `limit`.")
                    } catch {
                        throw Problem.upstreamUnavailable(service.service)
                    }
                    return (index, try ServicePage(reply, service: service.service))
                }
            }
            var pages = [ServicePage?](repeating: nil, count: services.count)
            for try await (index, page) in group { pages[index] = page }
            return pages.compactMap { $0 }
        }
        let merged = AuditTrailCursor.merge(pages, limit: page.limit, after: after)
        var response = Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: merged.serialized())))
        for field in limitHeaders { response.headers[field.name] = field.value }
        return response
    }

    /// The filters exactly as the client wrote them (still encoded), for each service to read and refuse as its
    /// own list does; the page parameters are the gateway's.
    static func filters(of request: Request) -> [String] {
        guard let query = request.uri.query, !query.isEmpty else { return [] }
        return query.split(separator: "&").compactMap { piece in
            let name = String(piece.prefix { $0 != "=" })
            return PageRequest.parameters.contains(name.removingPercentEncoding ?? name) ? nil : Self.escaped(piece)
        }
    }

    /// The piece with every byte outside RFC 3986's query characters percent-encoded: the parser let through
    /// bytes (`"`, `{`, raw UTF-8) that the client's URL would refuse, and the services decode both forms alike.
    static func escaped(_ piece: Substring) -> String {
        let digits = Array("0123456789ABCDEF".unicodeScalars)
        var out = ""
        for byte in piece.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case _ where "-._~!$'()*+,;=:@/?%".utf8.contains(byte):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(digits[Int(byte >> 4)])
                out.unicodeScalars.append(digits[Int(byte & 0x0F)])
            }
        }
        return out
    }
}

/// One service's page of records, or its refusal passed on to the client.
struct ServicePage: Sendable {
    let service: String
    let records: [JSONValue]
    let hasMore: Bool

    init(service: String, records: [JSONValue], hasMore: Bool) {
        self.service = service
        self.records = records
        self.hasMore = hasMore
    }

    init(_ reply: ServiceClient.Reply, service: String) throws {
        self.service = service
        guard reply.status == 200 else {
            // The caller's own mistake or missing permission: the service's problem, as it wrote it.
            if (400..<500).contains(reply.status) {
                throw PassedOnProblem(status: reply.status, headers: reply.headers, body: reply.body)
            }
            throw Problem(.badGateway, detail: "The \(service) service could not list its audit records.")
        }
        guard case .object(let body) = try? JSONValue.parse(reply.body.readableBytesView),
            case .array(let records) = body["data"]
        else { throw Problem(.badGateway, detail: "The \(service) service answered its audit list with no records.") }
        self.records = records
        if case .string = body["next_cursor"] { hasMore = true } else { hasMore = false }
    }
}

/// A service's 4xx problem, answered to the client unchanged, with the headers that tell the client what to do
/// next: the challenge of a 401 (which token error) and the wait of a 429 or 503.
struct PassedOnProblem: Error, HTTPResponseError {
    static let passedOnHeaders: [HTTPField.Name] = [.wwwAuthenticate, .retryAfter]

    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: ByteBuffer

    init(status: Int, headers: HTTPHeaders = [:], body: ByteBuffer) {
        self.status = HTTPResponse.Status(code: status)
        var fields: HTTPFields = [.contentType: "application/problem+json"]
        for name in Self.passedOnHeaders {
            for value in headers[name.rawName] { fields.append(HTTPField(name: name, value: value)) }
        }
        self.headers = fields
        self.body = body
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }
}

/// The merged list's cursor: how far into each service's log the client has read (the last sequence number
/// shown), as `users.12~orders.7`, base64url like every cursor of the API.
enum AuditTrailCursor {
    static func positions(_ decoded: String, services: [String]) -> [String: Int64]? {
        var positions: [String: Int64] = [:]
        for part in decoded.split(separator: "~") {
            let pieces = part.split(separator: ".")
            guard pieces.count == 2, services.contains(String(pieces[0])), let sequence = Int64(pieces[1]),
                sequence >= 0, positions[String(pieces[0])] == nil
            else { return nil }
            positions[String(pieces[0])] = sequence
        }
        return positions
    }

    /// `{"data": [...], "next_cursor": ...}`: up to `limit` records, each marked with its service, taken one at
    /// a time from the service whose next record is the oldest (ties to the earlier service). Each service's
    /// records are taken in its own order, so the cursor never moves past a record not shown, even when two
    /// records of one service carry times out of order (clocks of replicas, or of an offline command, differ).
    /// A cursor follows when any service has records left.
    static func merge(_ pages: [ServicePage], limit: Int, after: [String: Int64]) -> JSONValue {
        let queues: [[(time: Date, sequence: Int64, record: JSONValue)]] = pages.map { page in
            page.records.compactMap { record in
                guard case .object(var members) = record, case .integer(let sequence) = members["sequence"] else {
                    return nil
                }
                var time = Date.distantPast
                if case .string(let text) = members["time"], let parsed = Timestamp.parse(text) { time = parsed }
                members["service"] = .string(page.service)
                return (time, sequence, .object(members))
            }.sorted { $0.sequence < $1.sequence }
        }
        var next = [Int](repeating: 0, count: pages.count)
        var shown: [JSONValue] = []
        var positions = after
        while shown.count < limit {
            var oldest: Int?
            for index in pages.indices where next[index] < queues[index].count {
                if let current = oldest, queues[current][next[current]].time <= queues[index][next[index]].time {
                    continue
                }
                oldest = index
            }
            guard let index = oldest else { break }
            let taken = queues[index][next[index]]
            next[index] += 1
            shown.append(taken.record)
            positions[pages[index].service] = taken.sequence
        }
        let more = pages.indices.contains { next[$0] < queues[$0].count || pages[$0].hasMore }
        let position = pages.compactMap { page in positions[page.service].map { "\(page.service).\($0)" } }
        let cursor = more ? JSONValue.string(PageRequest.encodeCursor(position.joined(separator: "~"))) : .null
        return .object(["data": .array(shown), "next_cursor": cursor])
    }
}
