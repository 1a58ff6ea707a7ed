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

struct SQLClientRepository: ClientRepository {
    let database: any Database

    func create(_ client: OAuthClient, secretHash: String?) async throws {
        do {
            try await database.transaction { sql in
                try await sql.insert(into: "oauth_clients")
                    .columns(
                        "id", "name", "type", "secret_hash", "redirect_uris", "allowed_scopes", "grant_types",
                        "built_in", "created_at"
                    )
                    .values(
                        SQLBind(client.id), SQLBind(client.name), SQLBind(client.kind.rawValue), SQLBind(secretHash),
                        SQLBind(try JSONText.encode(client.redirectURIs)),
                        SQLBind(try JSONText.encode(client.allowedScopes)),
                        SQLBind(try JSONText.encode(client.grantTypes.map(\.rawValue))), SQLBind(0),
                        SQLBind(Timestamp.micros(client.createdAt))
                    )
                    .run()
            }
        } catch where UniqueConstraintViolation.matches(error) {
            throw ClientStorageError.idTaken
        }
    }

    func find(id: String) async throws -> (client: OAuthClient, secretHash: String?)? {
        try await database.read { sql in
            guard let row = try await sql.select().columns(SQLClientRepository.columns + [SQLColumn("secret_hash")])
                .from("oauth_clients").where("id", .equal, SQLBind(id)).first()
            else { return nil }
            return (try SQLClientRepository.client(from: row), try row.decode(column: "secret_hash", as: String?.self))
        }
    }

    func list(after: String?, limit: Int) async throws -> [OAuthClient] {
        try await database.read { sql in
            let query = sql.select().columns(SQLClientRepository.columns).from("oauth_clients")
            if let after { query.where("id", .greaterThan, SQLBind(after)) }
            return try await query.orderBy("id").limit(limit).all().map(SQLClientRepository.client(from:))
        }
    }

    static let columns: [any SQLExpression] = [
        "id", "name", "type", "redirect_uris", "allowed_scopes", "grant_types", "created_at",
    ].map { SQLColumn($0) }

    static func client(from row: any SQLRow) throws -> OAuthClient {
        let kind = try row.decode(column: "type", as: String.self)
        return OAuthClient(
            id: try row.decode(column: "id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            kind: OAuthClient.Kind(rawValue: kind) ?? .confidential,
            redirectURIs: try JSONText.decode(row.decode(column: "redirect_uris", as: String.self)),
            allowedScopes: try JSONText.decode(row.decode(column: "allowed_scopes", as: String.self)),
            // A grant type this build does not know is dropped rather than trusted.
            grantTypes: try JSONText.decode(row.decode(column: "grant_types", as: String.self))
                .compactMap(OAuthClient.GrantType.init(rawValue:)),
            createdAt: Timestamp.date(micros: try row.decode(column: "created_at", as: Int64.self)))
    }
}
