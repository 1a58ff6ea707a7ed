import Foundation
import MeridianKit
import SQLKit

/// A stored template: its id (a readable key such as `order-paid`), category and content.
struct StoredTemplate: Sendable {
    var id: String
    var category: String
    var template: MessageTemplate
    /// Seeded by the service; may be edited (and reset by deleting the edit), never removed.
    var builtIn: Bool
    var version: Int64
    var createdAt: Date
    var updatedAt: Date
}

/// Templates. A built-in template's row has no content until someone edits it: its text then comes from
/// `BuiltInTemplates`, so the seed needs no key and upgrades can improve it.
struct TemplateStore: Sendable {
    let database: any Database
    let sealer: Sealer

    static let table = "notification_templates"

    func template(id: String) async throws -> StoredTemplate? {
        try await database.read { sql in try await template(id: id, on: sql) }
    }

    func template(id: String, on sql: any SQLDatabase) async throws -> StoredTemplate? {
        try await sql.select().column("*").from(Self.table).where("id", .equal, SQLBind(id)).first().map(stored)
    }

    func templates(page: PageRequest) async throws -> [StoredTemplate] {
        try await database.read { sql in
            let query = sql.select().column("*").from(Self.table)
            if let after = page.after { query.where("id", .greaterThan, SQLBind(after)) }
            return try await query.orderBy("id").limit(page.limit + 1).all().map(stored)
        }
    }

    /// Inserts a new template; false when the id is taken.
    func insert(_ template: StoredTemplate, on sql: any SQLDatabase) async throws -> Bool {
        let inserted = try await sql.insert(into: Self.table)
            .columns("id", "category", "content", "built_in", "version", "created_at", "updated_at")
            .values(
                SQLBind(template.id), SQLBind(template.category),
                SQLBind(try sealer.sealJSON(Content(template.template), Self.table, "content", template.id)),
                SQLBind(Int64(0)), SQLBind(template.version), SQLBind(Timestamp.micros(template.createdAt)),
                SQLBind(Timestamp.micros(template.updatedAt))
            )
            .ignoringConflicts(with: ["id"]).returning("id").all()
        return !inserted.isEmpty
    }

    /// Replaces the content of version `expectedVersion`; nil when the version moved on.
    func update(_ template: StoredTemplate, expectedVersion: Int64, on sql: any SQLDatabase) async throws -> StoredTemplate? {
        try await sql.update(Self.table)
            .set("category", to: SQLBind(template.category))
            .set("content", to: SQLBind(try sealer.sealJSON(Content(template.template), Self.table, "content", template.id)))
            .set("version", to: SQLBind(expectedVersion + 1))
            .set("updated_at", to: SQLBind(Timestamp.micros(template.updatedAt)))
            .where("id", .equal, SQLBind(template.id)).where("version", .equal, SQLBind(expectedVersion))
            .returning("*").first().map(stored)
    }

    /// Deletes a custom template, or resets a built-in one to the shipped content. False when nothing changed
    /// hands (the version moved on).
    func delete(_ template: StoredTemplate, now: Date, on sql: any SQLDatabase) async throws -> Bool {
        if template.builtIn {
            return try await !sql.update(Self.table).set("content", to: SQLLiteral.null)
                .set("category", to: SQLBind(BuiltInTemplates.all[template.id]?.category ?? template.category))
                .set("version", to: SQLBind(template.version + 1)).set("updated_at", to: SQLBind(Timestamp.micros(now)))
                .where("id", .equal, SQLBind(template.id)).where("version", .equal, SQLBind(template.version))
                .returning("id").all().isEmpty
        }
        return try await !sql.delete(from: Self.table).where("id", .equal, SQLBind(template.id))
            .where("version", .equal, SQLBind(template.version)).returning("id").all().isEmpty
    }

    /// The sealed form: one JSON document per template.
    struct Content: Codable {
        var subject: String
        var text: String
        var html: String?
        var variables: [String]

        init(_ template: MessageTemplate) {
            subject = template.subject
            text = template.text
            html = template.html
            variables = template.variables
        }

        var template: MessageTemplate { MessageTemplate(subject: subject, text: text, html: html, variables: variables) }
    }

    private func stored(_ row: any SQLRow) throws -> StoredTemplate {
        let id = try row.decode(column: "id", as: String.self)
        let builtIn = try row.decode(column: "built_in", as: Int64.self) != 0
        let template: MessageTemplate
        if let sealed = try row.decode(column: "content", as: Data?.self) {
            template = try sealer.openJSON(Content.self, sealed, Self.table, "content", id).template
        } else if let shipped = BuiltInTemplates.all[id] {
            template = shipped.template
        } else {
            throw StoredDataInconsistent(detail: "template \(id) has no content and is not built in")
        }
        return StoredTemplate(
            id: id, category: try row.decode(column: "category", as: String.self), template: template,
            builtIn: builtIn, version: try row.decode(column: "version", as: Int64.self),
            createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Timestamp.date(micros: try row.decode(column: "updated_at", as: Int64.self)))
    }
}
