import ArgumentParser
import Foundation
import Logging
import MeridianKit

/// `meridian keys rotate | status | rotate-master`: the data keys of encryption at rest, per service.
/// Each works offline on the services' databases; running services pick changes up by themselves.
enum DataKeysData {
    /// Runs `operation` on each named service's database (all four without `service`), with its migrations
    /// applied first so that a never-started service has its key tables.
    static func run<Value: Sendable>(
        service: String?, storage: StorageOptions, common: CommonOptions,
        _ operation: @escaping @Sendable (KeyAdministration) async throws -> Value
    ) async throws -> [(ServiceName, Value)] {
        let settings = try await Settings.load(flags: flags(storage.flags, common.flags))
        let level = try settings.logLevel()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let services: [ServiceName]
        if let service {
            guard let name = ServiceName(rawValue: service), name.hasDatabase else {
                throw ConfigurationError(
                    description: "unknown service '\(service)': use users, orders, notifications or analytics")
            }
            services = [name]
        } else {
            services = ServiceName.backends
        }
        let masterKey = try settings.masterKey()
        // Key changes are audited: their records are signed on the service's own checkpoint schedule.
        let checkpoints = try settings.auditCheckpoints()
        var urls: [String: String] = [:]
        for other in ServiceName.backends { urls[other.rawValue] = settings.serviceURL(other) }
        let logger = Logger(label: "meridian")
        var results: [(ServiceName, Value)] = []
        for service in services {
            var unitSettings = ServiceSettings(
                name: service.rawValue, listen: ListenAddress(host: "127.0.0.1", port: 0),
                databaseURL: settings.databaseURL(for: service), serviceURLs: urls)
            unitSettings.masterKey = masterKey
            unitSettings.auditCheckpoints = checkpoints
            let unit = try ServiceUnit.make(service, settings: unitSettings)
            guard let database = unit.database else { continue }
            let administration = KeyAdministration(
                service: service.rawValue, database: database, masterKey: masterKey, checkpoints: checkpoints)
            let migrate = unit.migrate
            do {
                let value = try await Offline.run(on: database, logger: logger) {
                    try await migrate()
                    return try await operation(administration)
                }
                results.append((service, value))
            } catch let error as ConfigurationError {
                throw error
            } catch {
                throw ConfigurationError(
                    description: "\(service.rawValue): \(Settings.oneLine(String(describing: error)))")
            }
        }
        return results
    }
}

struct RotateDataKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Make a new data key primary for one service or all four; prints the new versions.",
        discussion: """
            New values are sealed with the new key once running services reload their keys (within seconds). \
            Each service's background job then re-encrypts older values in batches, resumably; an old key is \
            erased only when nothing uses it. Follow progress with `meridian keys status`.
            """)

    @Option(help: "users, orders, notifications or analytics (default: all four).")
    var service: String?

    @OptionGroup var storage: StorageOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        for (service, version) in try await DataKeysData.run(service: service, storage: storage, common: common, {
            try await $0.rotate()
        }) {
            print("\(service.rawValue): data key version \(version) is primary")
        }
    }
}

struct DataKeyStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each service's data keys and how many values are not yet on the primary key.")

    @Option(help: "users, orders, notifications or analytics (default: all four).")
    var service: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var storage: StorageOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let statuses = try await DataKeysData.run(service: service, storage: storage, common: common) {
            try await $0.status()
        }
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(statuses.map(\.1)), as: UTF8.self))
            return
        }
        for (_, status) in statuses {
            let remaining = status.columns.reduce(0) { $0 + $1.remaining }
            print("\(status.service): primary version \(status.primaryVersion), \(remaining) values to re-encrypt")
            for key in status.keys {
                print("  key v\(key.version): \(key.state)")
            }
            for column in status.columns {
                print(
                    "  \(column.table).\(column.column): \(column.remaining) remaining, \(column.reencrypted) re-encrypted")
            }
        }
    }
}

struct RotateMasterKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-master",
        abstract: "Re-wrap every service's data keys under a new master key (no value is re-encrypted).",
        discussion: """
            The current key comes from --master-key-file / MERIDIAN_MASTER_KEY(_FILE), the new one from \
            --new-master-key-file. Stop the services first, or restart them with the new key right after: \
            a running service keeps the keys it has unwrapped, but cannot reload them under the old master key.
            """)

    @Option(name: .customLong("new-master-key-file"), help: "A file holding the new master key, base64.")
    var newMasterKeyFile: String

    @Option(help: "users, orders, notifications or analytics (default: all four).")
    var service: String?

    @OptionGroup var storage: StorageOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let newKey: MasterKey
        do {
            newKey = try MasterKeySource.load(file: newMasterKeyFile)
        } catch let error as MasterKeySource.Missing {
            throw ConfigurationError(description: error.description)
        }
        for (service, count) in try await DataKeysData.run(service: service, storage: storage, common: common, {
            try await $0.rotateMaster(to: newKey)
        }) {
            print("\(service.rawValue): \(count) keys re-wrapped under master key \(newKey.fingerprint)")
        }
    }
}

extension DataKeysData {
    /// The data-key verbs, registered under `meridian keys`.
    static let commands: [any ParsableCommand.Type] = [
        RotateDataKeyCommand.self, DataKeyStatusCommand.self, RotateMasterKeyCommand.self,
    ]
}
