import Foundation
import MeridianKit
import SQLKit

/// Where OAuth clients live.
protocol ClientRepository: Sendable {
    /// Stores a client. Throws `ClientStorageError.idTaken` when the id is in use.
    func create(_ client: OAuthClient, secretHash: String?) async throws
    /// The client and its secret's bcrypt hash (nil for public clients).
    func find(id: String) async throws -> (client: OAuthClient, secretHash: String?)?
    /// Up to `limit` clients with ids after `after`, in id order.
    func list(after: String?, limit: Int) async throws -> [OAuthClient]
}

enum ClientStorageError: Error, Sendable, Equatable {
    case idTaken
}

/// Names and redirect URIs are `FieldCipher` ciphertext (the redirect URIs as one sealed JSON array).
struct SQLClientRepository: ClientRepository {
    let database: any Database
    let cipher: FieldCipher
    /// Where each change's audit record is appended, in the change's transaction. The service always sets it.
    var audit: AuditLog? = nil

    static let encryptedColumns: [EncryptedColumn] = [
        EncryptedColumn(table: "oauth_clients", column: "name"),
        EncryptedColumn(table: "oauth_clients", column: "redirect_uris"),
    ]

    func create(_ client: OAuthClient, secretHash: String?) async throws {
        do {
            try await database.transaction { sql in
                try await insert(client, secretHash: secretHash, builtIn: false, sql)
            }
        } catch where UniqueConstraintViolation.matches(error) {
            throw ClientStorageError.idTaken
        }
    }

    /// The public client of `meridian login`, stored on first start (after the cipher has loaded its keys).
    func ensureBuiltInClients() async throws {
        let now = Date()
        let cli = OAuthClient(
            id: OAuthClient.cliID, name: "Meridian CLI", kind: .public, redirectURIs: [OAuthClient.cliRedirectURI],
            allowedScopes: Scope.defaultScopes, grantTypes: [.authorizationCode, .refreshToken],
            createdAt: Timestamp.date(micros: Timestamp.micros(now)))
        try await database.transaction { sql in
            let present = try await sql.select().column("id").from("oauth_clients")
                .where("id", .equal, SQLBind(cli.id)).first()
            if present == nil { try await insert(cli, secretHash: nil, builtIn: true, sql) }
        }
    }

    private func insert(_ client: OAuthClient, secretHash: String?, builtIn: Bool, _ sql: any SQLDatabase) async throws {
        try await audit?.append(
            AuditEvent(
                action: "client.create", resourceType: "client", resourceID: client.id,
                changes: .object([
                    "name": .string(client.name), "type": .string(client.kind.rawValue),
                    "redirect_uris": .array(client.redirectURIs.map(JSONValue.string)),
                    "allowed_scopes": .array(client.allowedScopes.map(JSONValue.string)),
                    "grant_types": .array(client.grantTypes.map { .string($0.rawValue) }),
                    "built_in": .bool(builtIn),
                ])),
            on: sql)
                try await sql.insert(into: "oauth_clients")
                    .columns(
                        "id", "name", "type", "secret_hash", "redirect_uris", "allowed_scopes", "grant_types",
                        "built_in", "created_at"
                    )
                    .values(
                        SQLBind(client.id),
                        SQLBind(try cipher.seal(client.name, table: "oauth_clients", column: "name", rowID: client.id)),
                        SQLBind(client.kind.rawValue), SQLBind(secretHash),
                        SQLBind(
                            try cipher.seal(
                                JSONText.encode(client.redirectURIs), table: "oauth_clients", column: "redirect_uris",
                                rowID: client.id)),
                        SQLBind(try JSONText.encode(client.allowedScopes)),
                        SQLBind(try JSONText.encode(client.grantTypes.map(\.rawValue))), SQLBind(builtIn ? 1 : 0),
                        SQLBind(Timestamp.micros(client.createdAt))
                    )
                    .run()
    }

    func find(id: String) async throws -> (client: OAuthClient, secretHash: String?)? {
        try await database.read { sql in
            guard let row = try await sql.select().columns(SQLClientRepository.columns + [SQLColumn("secret_hash")])
                .from("oauth_clients").where("id", .equal, SQLBind(id)).first()
            else { return nil }
            return (try client(from: row), try row.decode(column: "secret_hash", as: String?.self))
        }
    }

    func list(after: String?, limit: Int) async throws -> [OAuthClient] {
        try await database.read { sql in
            let query = sql.select().columns(SQLClientRepository.columns).from("oauth_clients")
            if let after { query.where("id", .greaterThan, SQLBind(after)) }
            return try await query.orderBy("id").limit(limit).all().map(client(from:))
        }
    }

    static let columns: [any SQLExpression] = [
        "id", "name", "type", "redirect_uris", "allowed_scopes", "grant_types", "created_at",
    ].map { SQLColumn($0) }

    func client(from row: any SQLRow) throws -> OAuthClient {
        let kind = try row.decode(column: "type", as: String.self)
        let id = try row.decode(column: "id", as: String.self)
        return OAuthClient(
            id: id,
            name: try cipher.open(row.decode(column: "name", as: Data.self), table: "oauth_clients", column: "name", rowID: id),
            kind: OAuthClient.Kind(rawValue: kind) ?? .confidential,
            redirectURIs: try JSONText.decode(
                cipher.open(
                    row.decode(column: "redirect_uris", as: Data.self), table: "oauth_clients",
                    column: "redirect_uris", rowID: id)),
            allowedScopes: try JSONText.decode(row.decode(column: "allowed_scopes", as: String.self)),
            // A grant type this build does not know is dropped rather than trusted.
            grantTypes: try JSONText.decode(row.decode(column: "grant_types", as: String.self))
                .compactMap(OAuthClient.GrantType.init(rawValue:)),
            createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)))
    }
}
