import ArgumentParser
import MeridianKit

/// `meridian keys …`: the platform's keys.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Manage the platform's keys.", subcommands: [RotateSigningKeyCommand.self] + DataKeysData.commands)
}

struct RotateSigningKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-signing",
        abstract: "Make a new access-token signing key the signer; prints its key id.",
        discussion: """
            Works offline on the users service's data. The previous key stays published in the JWKS until every \
            token it signed has expired, so no signed-in client notices; running services pick the new key up \
            within half a minute.
            """)

    @OptionGroup var storage: StorageOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let kid = try await UsersData.run(storage: storage, common: common) { users in
            try await users.rotateSigningKey()
        }
        print("kid: \(kid)")
    }
}
