import Foundation
import MeridianKit
import MeridianTestSupport
import NIOHTTP1
import Testing

/// Writes marker strings through the gateway into every encrypted field, then reads the raw storage (the
/// SQLite files with their WAL, or a `pg_dump` of each service's schema): no marker may appear, and every value
/// must still read back through the API. Then every encrypted column is opened with the master key: each marker
/// must be there, sealed, and each column must have received one (`EncryptionAtRestCoverage.swift`).
///
/// Table-driven: a service that encrypts more fields adds a `Probe` to its list (`EncryptionAtRestProbes+*.swift`).
@Suite(.serialized) struct EncryptionAtRestTests {
    /// One write through the API. It returns the values that must not appear at rest, each named by its
    /// field, after checking that the API gives them back.
    struct Probe: Sendable {
        let field: String
        let write: @Sendable (Platform, MarkerMint) async throws -> [Secret]
    }

    static let probes: [Probe] = userProbes + orderProbes + notificationProbes

    @Test(arguments: TestDatabase.engines)
    func noMarkerIsStoredInPlaintext(_ engine: DatabaseEngine) async throws {
        let databases = Platform.Databases.fresh(engine)
        let secrets = try await Platform.run(databases) { platform in
            var secrets: [Secret] = []
            for (index, probe) in Self.probes.enumerated() {
                let written = try await probe.write(platform, MarkerMint(probe: index))
                #expect(!written.isEmpty, "probe \(probe.field) wrote nothing to look for")
                secrets += written
            }
            return secrets
        }
        let forms = secrets.flatMap(\.forms)
        #expect(Set(forms).count == forms.count, "every marker is distinct")
        // After a graceful stop, so that everything acknowledged is on disk.
        let dumps = try Self.rawStorage(databases, engine: engine)
        #expect(!dumps.isEmpty)
        for (name, bytes) in dumps {
            for secret in secrets {
                for form in secret.forms {
                    guard let found = bytes.range(of: form) else { continue }
                    let table = Self.dumpedTable(in: bytes, before: found.lowerBound).map { " (table \($0))" } ?? ""
                    Issue.record("\(name)\(table) holds \(secret.field) in plaintext: '\(Secret.describe(form))'")
                }
            }
        }
        try await Self.checkSealedStorage(databases, secrets: secrets)
    }

    /// In a `pg_dump`, the table whose `COPY` block holds `offset`; nil in a SQLite file.
    static func dumpedTable(in dump: Data, before offset: Data.Index) -> String? {
        guard let copy = dump.range(of: Data("\nCOPY ".utf8), options: .backwards, in: dump.startIndex..<offset)
        else { return nil }
        let name = dump[copy.upperBound...].prefix { $0 != UInt8(ascii: " ") }
        return String(decoding: name, as: UTF8.self)
    }

    /// Every byte the services stored: the SQLite database files and their WAL, or a `pg_dump` per schema.
    static func rawStorage(_ databases: Platform.Databases, engine: DatabaseEngine) throws -> [(String, Data)] {
        var dumps: [(String, Data)] = []
        for (service, url) in databases.urls.sorted(by: { $0.key < $1.key }) {
            switch engine {
            case .sqlite:
                for suffix in ["", "-wal"] {
                    if let data = FileManager.default.contents(atPath: url + suffix) { dumps.append((service + suffix, data)) }
                }
            case .postgres:
                dumps.append((service, try pgDump(url)))
            }
        }
        return dumps
    }

    static func pgDump(_ url: String) throws -> Data {
        guard let components = URLComponents(string: url),
            let schema = components.queryItems?.first(where: { $0.name == "schema" })?.value
        else { throw CocoaError(.fileReadUnknown) }
        var base = components
        base.queryItems = components.queryItems?.filter { $0.name != "schema" }
        if base.queryItems?.isEmpty == true { base.queryItems = nil }
        // Into a file, not a pipe: a server another suite starts at the same moment can inherit the pipe's write
        // end and hold it open, and reading to end-of-file would then wait for that server to exit.
        let dump = FileManager.default.temporaryDirectory.appendingPathComponent("meridian-dump-\(UUID().uuidString).sql")
        defer { try? FileManager.default.removeItem(at: dump) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["pg_dump", "--data-only", "--schema=\(schema)", "--file=\(dump.path)", base.string ?? url]
        process.standardOutput = FileHandle.nullDevice
        try ProcessLaunch.run(process)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return try Data(contentsOf: dump)
    }
}
