import ArgumentParser
import Logging
import MeridianKit

/// `--master-key-file`: the key that wraps every service's data keys. `MERIDIAN_MASTER_KEY` (base64) and
/// `MERIDIAN_MASTER_KEY_FILE` set it from the environment, for example from a mounted Kubernetes secret.
struct MasterKeyOption: ParsableArguments {
    @Option(
        name: .customLong("master-key-file"),
        help: """
            A file holding the 256-bit master key, base64 (MERIDIAN_MASTER_KEY_FILE; or the key itself in \
            MERIDIAN_MASTER_KEY). serve generates <data-dir>/master.key when none is given.
            """)
    var masterKeyFile: String?

    var flags: [String: String?] { ["master.key.file": masterKeyFile] }
}

extension Settings {
    /// The configured master key. With `generateInDataDirectory` (serve only) and none configured, the
    /// development key in the data directory, generated on first use with a warning.
    func masterKey(generateInDataDirectory: Bool = false) throws -> MasterKey {
        do {
            return try MasterKeySource.resolve(
                base64: reader.string(forKey: "master.key", isSecret: true),
                file: string("master.key.file"),
                developmentDirectory: generateInDataDirectory ? dataDirectory : nil,
                logger: Logger(label: "meridian"))
        } catch let error as MasterKeySource.Missing {
            throw ConfigurationError(description: error.description)
        }
    }
}
