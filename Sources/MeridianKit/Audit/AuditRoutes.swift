import Foundation
import Hummingbird
import SQLKit

/// `GET /api/audit/<service>` (permission `audit:read`, in each service's access table): the service's audit
/// records, oldest first, filtered and paginated, change sets decrypted for the reader. Deliberately the only
/// route: nothing in the API can change or remove a record.
public struct AuditRoutes: Sendable {
    public let log: AuditLog
    public let database: any Database

    public init(log: AuditLog, database: any Database) {
        self.log = log
        self.database = database
    }

    /// The route's path for `service`, as access tables list it.
    public static func path(service: String) -> String { "/api/audit/\(service)" }

    /// The list's query parameters; the gateway's merged list (`GET /api/audit`) takes the same.
    public static let parameters: Set<String> = PageRequest.parameters.union([
        "actor", "resource_type", "resource_id", "action", "outcome", "from", "to",
    ])

    public func register(on router: some RouterMethods<MeridianRequestContext>) {
        router.get(RouterPath(AuditRoutes.path(service: log.service))) { request, context in
            try await list(request, context: context)
        }
    }

    func list(_ request: Request, context: MeridianRequestContext) async throws -> Response {
        var query = QueryReader(request, known: AuditRoutes.parameters)
        let page = PageRequest(reading: &query)
        let filter = AuditFilter(reading: &query)
        var after: Int64?
        if let cursor = page.after {
            after = Int64(cursor)
            if after == nil { query.fail("cursor", "is not a cursor this API issued") }
        }
        try query.finish()
        let cipher = log.cipher
        let rows = try await database.read { sql in
            var select = sql.select().columns(AuditRecord.columns).from(AuditRecord.table)
            select = filter.apply(to: select)
            if let after { select = select.where("sequence", .greaterThan, SQLBind(after)) }
            return try await select.orderBy("sequence").limit(page.limit + 1).all().map(AuditRecord.decode)
        }
        let items = try rows.map { stored -> AuditRecordResource in
            let plaintext = try cipher.openBytes(
                stored.sealedDetails, table: AuditRecord.table, column: AuditRecord.detailsColumn,
                rowID: stored.record.id)
            return AuditRecordResource(stored.record, details: try AuditDetails(parsing: plaintext))
        }
        return try Response.json(page.page(items) { String($0.sequence) })
    }
}

/// The list's filters; each names an indexed column.
struct AuditFilter: Sendable {
    var actor: String?
    var resourceType: String?
    var resourceID: String?
    var action: String?
    var outcome: String?
    var from: Int64?
    var to: Int64?

    init(reading query: inout QueryReader) {
        actor = query.string("actor", maxLength: 200)
        resourceType = query.string("resource_type", maxLength: 100)
        resourceID = query.string("resource_id", maxLength: 200)
        action = query.string("action", maxLength: 64)
        outcome = query.oneOf("outcome", AuditOutcome.allCases.map(\.rawValue))
        from = AuditFilter.time("from", &query)
        to = AuditFilter.time("to", &query)
        if let from, let to, from > to { query.fail("to", "must not be before from") }
    }

    private static func time(_ name: String, _ query: inout QueryReader) -> Int64? {
        query.time(name).map(Timestamp.micros)
    }

    func apply(to select: SQLSelectBuilder) -> SQLSelectBuilder {
        var select = select
        // The subject of a user's token, or the client of a client-credentials token.
        if let actor {
            select = select.where { group in
                group.where("actor_sub", .equal, SQLBind(actor)).orWhere("actor_client_id", .equal, SQLBind(actor))
            }
        }
        if let resourceType { select = select.where("resource_type", .equal, SQLBind(resourceType)) }
        if let resourceID { select = select.where("resource_id", .equal, SQLBind(resourceID)) }
        if let action { select = select.where("action", .equal, SQLBind(action)) }
        if let outcome { select = select.where("outcome", .equal, SQLBind(outcome)) }
        if let from { select = select.where("occurred_at", .greaterThanOrEqual, SQLBind(from)) }
        if let to { select = select.where("occurred_at", .lessThanOrEqual, SQLBind(to)) }
        return select
    }
}

/// One record as the API shows it.
struct AuditRecordResource: Encodable, Sendable {
    struct Actor: Encodable, Sendable {
        let sub: String?
        let clientID: String?
        let roles: [String]

        enum CodingKeys: String, CodingKey {
            case sub, roles
            case clientID = "client_id"
        }

        // Like the record: a background job's actor has no client, shown as null rather than a missing key.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(sub, forKey: .sub)
            try container.encode(clientID, forKey: .clientID)
            try container.encode(roles, forKey: .roles)
        }
    }

    struct Resource: Encodable, Sendable {
        let type: String
        let id: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(type, forKey: .type)
            try container.encode(id, forKey: .id)
        }

        enum CodingKeys: String, CodingKey { case type, id }
    }

    let id: String
    let sequence: Int64
    let time: Date
    let actor: Actor
    let action: String
    let resource: Resource
    let outcome: String
    let requestID: String?
    let traceID: String?
    let sourceAddress: String?
    let changes: JSONValue?
    let previousHash: String
    let hash: String

    init(_ record: AuditRecord, details: AuditDetails) {
        id = record.id
        sequence = record.sequence
        time = Timestamp.date(micros: record.occurredAt)
        actor = Actor(
            sub: record.actorSub, clientID: record.actorClientID,
            roles: record.actorRoles.split(separator: ",").map(String.init))
        action = record.action
        resource = Resource(type: record.resourceType, id: record.resourceID)
        outcome = record.outcome
        requestID = record.requestID
        traceID = record.traceID
        sourceAddress = details.sourceAddress
        changes = details.changes
        previousHash = record.previousHash
        hash = record.hash
    }

    enum CodingKeys: String, CodingKey {
        case id, sequence, time, actor, action, resource, outcome, changes, hash
        case requestID = "request_id"
        case traceID = "trace_id"
        case sourceAddress = "source_address"
        case previousHash = "previous_hash"
    }

    // Absent values are null rather than missing, so every record has the same shape.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(sequence, forKey: .sequence)
        try container.encode(time, forKey: .time)
        try container.encode(actor, forKey: .actor)
        try container.encode(action, forKey: .action)
        try container.encode(resource, forKey: .resource)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(requestID, forKey: .requestID)
        try container.encode(traceID, forKey: .traceID)
        try container.encode(sourceAddress, forKey: .sourceAddress)
        try container.encode(changes.map(EncodedJSON.init), forKey: .changes)
        try container.encode(previousHash, forKey: .previousHash)
        try container.encode(hash, forKey: .hash)
    }
}

/// Encodes a `JSONValue` as itself. Kept private to the audit routes so as not to claim a module-wide
/// `Encodable` conformance another part of the kernel may declare.
private struct EncodedJSON: Encodable {
    let value: JSONValue

    init(_ value: JSONValue) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        switch value {
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .bool(let bool):
            var container = encoder.singleValueContainer()
            try container.encode(bool)
        case .number(let number):
            var container = encoder.singleValueContainer()
            try container.encode(number)
        case .integer(let integer):
            var container = encoder.singleValueContainer()
            try container.encode(integer)
        case .string(let string):
            var container = encoder.singleValueContainer()
            try container.encode(string)
        case .array(let values):
            var container = encoder.unkeyedContainer()
            for element in values { try container.encode(EncodedJSON(element)) }
        case .object(let members):
            var container = encoder.container(keyedBy: MemberKey.self)
            for (key, member) in members { try container.encode(EncodedJSON(member), forKey: MemberKey(key)) }
        }
    }

    private struct MemberKey: CodingKey {
        let stringValue: String
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
}
