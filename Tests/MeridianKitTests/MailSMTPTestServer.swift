import Foundation
import MeridianTestSupport
import Testing

/// A real SMTP server for the client tests: `Tests/interop/smtp_server.py` (aiosmtpd) in its own process, run with
/// the repository's interop venv. Each test starts its own, with its own reply rules, and reads what the server
/// received from the state file the script keeps.
///
/// The venv is made by `scripts/test` (and by hand with `python3 -m venv .venv && .venv/bin/pip install -r
/// Tests/interop/requirements.txt`); where it or aiosmtpd is missing these tests are skipped and say so, and the
/// interop suite's email tests cover the same server through `meridian serve`.
struct SMTPTestServer {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let python = repository.appendingPathComponent(".venv/bin/python").path
    static let script = repository.appendingPathComponent("Tests/interop/smtp_server.py").path

    /// True when the venv's Python can import aiosmtpd and cryptography.
    static let isAvailable: Bool = {
        guard FileManager.default.isExecutableFile(atPath: python) else { return false }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: python)
        probe.arguments = ["-c", "import aiosmtpd, cryptography"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        do { try probe.run() } catch { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }()

    /// One test CA for the whole test process (made once: generating keys takes a moment).
    static let certificates: URL = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meridian-smtp-ca-\(UUID().uuidString)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, "--make-ca", directory.path]
        try? ProcessLaunch.run(process)
        process.waitUntilExit()
        return directory
    }()

    static var caFile: String { certificates.appendingPathComponent("smtp-ca.pem").path }
    static var otherCAFile: String { certificates.appendingPathComponent("smtp-other-ca.pem").path }

    let process: Process
    let stateDirectory: URL
    let port: Int

    struct State: Decodable {
        struct Message: Decodable {
            let mail_from: String
            let recipients: [String]
            let data: String
            let encrypted: Bool
            let login: String?
            var text: String { String(decoding: Data(base64Encoded: data) ?? Data(), as: UTF8.self) }
            var bytes: [UInt8] { Array(Data(base64Encoded: data) ?? Data()) }
        }
        let connections: [String]
        let logins: [String]
        let messages: [Message]
    }

    struct StartFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts the server and waits until it listens. `rules` are JSON objects (see smtp_server.py).
    static func start(
        security: String = "starttls", auth: [String] = [], mechanisms: [String] = [], rules: [String] = [],
        sizeLimit: Int? = nil
    ) throws -> SMTPTestServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meridian-smtp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var arguments = [script, "--state-dir", directory.path, "--security", security, "--cert-dir", certificates.path]
        for pair in auth { arguments += ["--auth", pair] }
        for mechanism in mechanisms { arguments += ["--mechanism", mechanism] }
        for rule in rules { arguments += ["--rule", rule] }
        if let sizeLimit { arguments += ["--size-limit", String(sizeLimit)] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        let log = directory.appendingPathComponent("server.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try ProcessLaunch.run(process)
        let portFile = directory.appendingPathComponent("port")
        // Readiness, not a timing assertion: poll for the port file for up to 30 s.
        for _ in 0..<600 {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) {
                return SMTPTestServer(process: process, stateDirectory: directory, port: port)
            }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        ProcessLaunch.kill(process)
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        throw StartFailed(description: "smtp_server.py did not start:\n\(output)")
    }

    func state() throws -> State {
        let data = try Data(contentsOf: stateDirectory.appendingPathComponent("state.json"))
        return try JSONDecoder().decode(State.self, from: data)
    }

    func stop() {
        // SIGKILL: the state file is written atomically after every event, so nothing is lost, and SIGTERM may be
        // blocked in a process started from the test runner.
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: stateDirectory)
    }
}
