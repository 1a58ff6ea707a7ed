import Foundation
import Logging
import MeridianKit
import SQLKit

extension UsersService {
    /// Makes sure the confidential client the services authenticate as exists with the configured secret
    /// (`settings.serviceClient`; `serve` generates it). Tokens it obtains carry the built-in `service` role.
    ///
    /// A missing client is created. The platform's own client (`meridian-services`) gets the configured secret
    /// if its stored one differs (the secret file was replaced); a client an operator registered
    /// (`meridian admin create-client`) is never changed, only reported.
    func ensureServiceClient() async throws {
        guard let credentials = settings.serviceClient else { return }
        if let (client, secretHash) = try await clients.find(id: credentials.clientID) {
            if let secretHash, try await hasher.verify(credentials.clientSecret, hash: secretHash),
                client.kind == .confidential, client.allows(.clientCredentials)
            {
                return
            }
            guard credentials.clientID == ServiceTokenProvider.defaultClientID else {
                logger.error(
                    "the configured service client cannot use client credentials with the configured secret",
                    metadata: ["client_id": .string(client.id)])
                return
            }
            let hash = try await hasher.hash(credentials.clientSecret)
            try await database.transaction { sql in
                try await sql.update("oauth_clients")
                    .set("secret_hash", to: SQLBind(hash))
                    .set("type", to: SQLBind(OAuthClient.Kind.confidential.rawValue))
                    .set("grant_types", to: SQLBind(try JSONText.encode([OAuthClient.GrantType.clientCredentials.rawValue])))
                    .where("id", .equal, SQLBind(client.id))
                    .run()
            }
            logger.notice("service client secret replaced", metadata: ["client_id": .string(client.id)])
            return
        }
        let client = OAuthClient(
            id: credentials.clientID, name: "Meridian services", kind: .confidential, redirectURIs: [],
            allowedScopes: Scope.defaultScopes, grantTypes: [.clientCredentials],
            createdAt: Timestamp.date(micros: Timestamp.micros(Date())))
        do {
            try await clients.create(client, secretHash: try await hasher.hash(credentials.clientSecret))
            logger.notice("service client created", metadata: ["client_id": .string(client.id)])
        } catch ClientStorageError.idTaken {
            // Another replica created it first, with the same configured secret.
        }
    }

    /// The token source of the users service's own event dispatcher: its client credentials against its own
    /// token endpoint (its configured URL, else its listen address).
    static func eventTokenSource(settings: ServiceSettings, logger: Logger) -> ServiceTokenProvider? {
        guard let credentials = settings.serviceClient else { return nil }
        let ownURL: String
        if let configured = try? settings.url(of: UsersService.name) {
            ownURL = configured
        } else {
            let wildcard = ["0.0.0.0", "::", ""].contains(settings.listen.host)
            let host = wildcard ? ListenAddress(host: "127.0.0.1", port: settings.listen.port) : settings.listen
            ownURL = "\(settings.tls == nil ? "http" : "https")://\(host)"
        }
        return ServiceTokenProvider(
            usersURL: ownURL, clientID: credentials.clientID, clientSecret: credentials.clientSecret, logger: logger)
    }
}
