import Foundation
import Hummingbird
import MeridianKit

/// `/api/notification-templates`: Mustache templates with a subject, a text and an optional HTML part.
/// Validated on every write: each part must parse and use only declared variables.
struct TemplateRoutes: Sendable {
    let database: any Database
    let store: TemplateStore
    let audit: AuditLog

    func register(on router: Router<MeridianRequestContext>) {
        router.get("/api/notification-templates") { request, context in try await list(request, context) }
        router.post("/api/notification-templates") { request, context in try await create(request, context) }
        router.get("/api/notification-templates/:id") { _, context in try await show(context) }
        router.put("/api/notification-templates/:id") { request, context in try await update(request, context) }
        router.delete("/api/notification-templates/:id") { request, context in try await delete(request, context) }
    }

    static func isValidID(_ id: String) -> Bool {
        guard let first = id.unicodeScalars.first, id.utf8.count <= 64, first.properties.isLowercase || ("0"..."9").contains(first)
        else { return false }
        return id.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }
    }

    /// Reads category and content; every template problem is a 422 naming the part and the variable.
    static func readContent(_ body: inout FieldReader) throws -> (String, MessageTemplate) {
        let category = body.string("category", maxLength: 40)
        if let category, !Category.isValid(category) {
            body.fail("category", "must be lower-case letters, digits, - and _, starting with a letter")
        }
        let subject = body.string("subject", maxLength: 998)
        let text = body.string("text", maxLength: 100_000)
        let html = body.optionalString("html", maxLength: 200_000)
        var variables: [String] = []
        if let raw = body.raw("variables") {
            if case .array(let values) = raw, values.count <= 100 {
                for value in values {
                    guard case .string(let name) = value, !name.isEmpty, name.count <= 64,
                        name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" })
                    else {
                        body.fail("variables", "must be names of letters, digits and _")
                        break
                    }
                    if !variables.contains(name) { variables.append(name) }
                }
            } else {
                body.fail("variables", "must be an array of at most 100 names")
            }
        }
        var template: MessageTemplate?
        if let subject, let text {
            let candidate = MessageTemplate(subject: subject, text: text, html: html, variables: variables)
            for problem in candidate.problems() { body.fail(problem.field, problem.message) }
            template = candidate
        }
        try body.finish()
        return (category!, template!)
    }

    func create(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        var body = try await request.fieldReader(context: context)
        let id = body.string("id", maxLength: 64)
        if let id, !Self.isValidID(id) {
            body.fail("id", "must be 1 to 64 lower-case letters, digits, -, _ and ., starting with a letter or digit")
        }
        let (category, template) = try Self.readContent(&body)
        let now = Date()
        let stored = StoredTemplate(
            id: id!, category: category, template: template, builtIn: false, version: 1, createdAt: now, updatedAt: now)
        try await database.transaction { sql in
            guard try await store.insert(stored, on: sql) else {
                throw Problem.conflict("A template with this id exists already.")
            }
            try await audit.append(
                AuditEvent(action: "template.create", resourceType: "notification_template", resourceID: stored.id,
                           changes: .object(["category": .string(category)])),
                actor: AuditActor(context: context), on: sql)
        }
        var headers = Self.headers(stored)
        headers[.location] = "/api/notification-templates/\(stored.id)"
        return try Response.json(TemplateResource(stored), status: .created, headers: headers)
    }

    func list(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        var query = QueryReader(request, known: PageRequest.parameters)
        let page = PageRequest(reading: &query)
        try query.finish()
        let found = try await store.templates(page: page)
        return try Response.json(page.page(found.map(TemplateResource.init), id: \.id))
    }

    func show(_ context: MeridianRequestContext) async throws -> Response {
        let stored = try await existing(context)
        return try Response.json(TemplateResource(stored), headers: Self.headers(stored))
    }

    func update(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        // A stale If-Match is refused before the body is read.
        try EntityTag.checkIfMatch(request, currentVersion: try await existing(context).version)
        var body = try await request.fieldReader(context: context)
        let (category, template) = try Self.readContent(&body)
        let stored = try await ConditionalWrite.run(
            request, read: { try await existing(context) }, version: { $0.version }
        ) { current in
            var changed = current
            changed.category = category
            changed.template = template
            changed.updatedAt = Date()
            return try await database.transaction { sql -> StoredTemplate? in
                guard let stored = try await store.update(changed, expectedVersion: current.version, on: sql) else {
                    return nil
                }
                try await audit.append(
                    AuditEvent(action: "template.update", resourceType: "notification_template", resourceID: stored.id,
                               changes: .object(["category": .string(category), "version": .integer(stored.version)])),
                    actor: AuditActor(context: context), on: sql)
                return stored
            }
        }
        return try Response.json(TemplateResource(stored), headers: Self.headers(stored))
    }

    /// Deletes a custom template; a built-in one goes back to the shipped text.
    func delete(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        _ = try await ConditionalWrite.run(
            request, read: { try await existing(context) }, version: { $0.version }
        ) { current in
            try await database.transaction { sql -> Bool? in
                guard try await store.delete(current, now: Date(), on: sql) else { return nil }
                try await audit.append(
                    AuditEvent(action: current.builtIn ? "template.reset" : "template.delete",
                               resourceType: "notification_template", resourceID: current.id),
                    actor: AuditActor(context: context), on: sql)
                return true
            }
        }
        return Response(status: .noContent)
    }

    private func existing(_ context: MeridianRequestContext) async throws -> StoredTemplate {
        guard let id = context.parameters.get("id"), Self.isValidID(id), let stored = try await store.template(id: id) else {
            throw Problem.notFound("The template")
        }
        return stored
    }

    static func headers(_ stored: StoredTemplate) -> HTTPFields {
        [.eTag: EntityTag.make(version: stored.version)]
    }
}

struct TemplateResource: Encodable, Sendable {
    let id: String
    let category: String
    let subject: String
    let text: String
    let html: String?
    let variables: [String]
    let builtIn: Bool
    let version: Int64
    let createdAt: Date
    let updatedAt: Date

    init(_ stored: StoredTemplate) {
        id = stored.id
        category = stored.category
        subject = stored.template.subject
        text = stored.template.text
        html = stored.template.html
        variables = stored.template.variables
        builtIn = stored.builtIn
        version = stored.version
        createdAt = stored.createdAt
        updatedAt = stored.updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, category, subject, text, html, variables, builtIn = "built_in", version
        case createdAt = "created_at", updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(category, forKey: .category)
        try container.encode(subject, forKey: .subject)
        try container.encode(text, forKey: .text)
        try container.encode(html, forKey: .html)
        try container.encode(variables, forKey: .variables)
        try container.encode(builtIn, forKey: .builtIn)
        try container.encode(version, forKey: .version)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }
}
