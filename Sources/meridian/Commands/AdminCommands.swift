import ArgumentParser
import Foundation
import Logging
import MeridianKit
import Users

/// `meridian admin …`: changes to the users service's data made offline, on its database directly (the
/// service may be stopped). The rules are the service's own (`UsersService`'s admin functions).
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Administer accounts and OAuth clients offline, on the users service's data.",
        subcommands: [CreateClientCommand.self])
}

/// Opens the users service on the configured data for one offline operation. The verbs print their result
/// on standard output; logs go to standard error so that the result can be captured alone.
enum UsersData {
    static func run<Value: Sendable>(
        storage: StorageOptions, common: CommonOptions,
        _ operation: @escaping @Sendable (UsersService) async throws -> Value
    ) async throws -> Value {
        let settings = try await Settings.load(flags: flags(storage.flags, common.flags))
        let level = try settings.logLevel()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: UsersService.name)
        var serviceSettings = ServiceSettings(
            name: UsersService.name, listen: ListenAddress(host: "127.0.0.1", port: 0),
            databaseURL: settings.databaseURL(for: .users))
        serviceSettings.masterKey = try settings.masterKey()
        let service = try UsersService(settings: serviceSettings, logger: logger)
        return try await Offline.run(on: service.database, logger: logger) { try await operation(service) }
    }
}

struct CreateClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-client",
        abstract: "Register an OAuth client; prints its id and, for a confidential client, its secret (shown once).",
        discussion: """
            A public client (an app that cannot keep a secret) signs users in with the authorization code flow \
            and PKCE, so it needs at least one --redirect-uri. A confidential client (a service or script) gets a \
            secret and uses client credentials.
            """)

    enum Kind: String, EnumerableFlag {
        case `public`, confidential
    }

    @Option(help: "The client's name, shown on the sign-in page.")
    var name: String

    @Flag(help: "The kind of client.")
    var kind: Kind

    @Option(name: .customLong("redirect-uri"), parsing: .upToNextOption, help: "Exact redirect URIs (public clients).")
    var redirectURIs: [String] = []

    @Option(name: .customLong("scope"), parsing: .upToNextOption, help: "Scopes the client may ask for (default: api).")
    var scopes: [String] = []

    @OptionGroup var storage: StorageOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let name = name
        let kind: OAuthClient.Kind = kind == .public ? .public : .confidential
        let redirectURIs = redirectURIs
        let scopes = scopes.isEmpty ? nil : scopes
        let registered = try await UsersData.run(storage: storage, common: common) { users in
            try await users.createClient(name: name, kind: kind, redirectURIs: redirectURIs, scopes: scopes)
        }
        print("client_id: \(registered.client.id)")
        if let secret = registered.secret {
            print("client_secret: \(secret)")
            FileHandle.standardError.write(Data("The secret is shown only now: store it safely.\n".utf8))
        }
    }
}
