import ArgumentParser
import Foundation
import Logging
import MeridianKit

/// `meridian audit …`: the services' tamper-evident audit logs.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Check the services' audit logs.", subcommands: [AuditVerifyCommand.self])
}

struct AuditVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Walk each service's audit chain and name the first record that was modified, deleted, inserted or reordered.",
        discussion: """
            Opens the services' databases from the same settings as `migrate`, with the master key (to open each \
            record's sealed details and the checkpoint keys). Checks every hash link and every signed \
            checkpoint. Exits 1 when a chain is broken, naming the first broken record.
            """)

    @Option(help: "users, orders, notifications or analytics (default: all four).")
    var service: String?

    @OptionGroup var storage: StorageOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let results = try await DataKeysData.run(service: service, storage: storage, common: common) { keys in
            let cipher = FieldCipher(service: keys.service, database: keys.database, masterKey: keys.masterKey)
            try await cipher.load()
            return try await AuditVerifier(service: keys.service, database: keys.database, cipher: cipher).verify()
        }
        var broken = false
        for (service, verification) in results {
            if let found = verification.firstBreak {
                broken = true
                print("\(service.rawValue): BROKEN at \(found)")
            } else {
                let signed = verification.lastSignedSequence.map { "signed through record \($0)" } ?? "none signed yet"
                print(
                    "\(service.rawValue): intact, \(verification.records) records, "
                        + "\(verification.checkpoints) checkpoints, \(signed)")
            }
        }
        if broken { throw ExitCode(1) }
    }
}
