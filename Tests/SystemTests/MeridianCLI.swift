import Foundation
import MeridianKit
import MeridianTestSupport
import Testing

/// Runs `meridian <arguments>` on one service database with a master key from the environment.
struct MeridianCLI: Sendable {
    let binary: String
    let databaseURL: String

    struct Outcome: Sendable {
        let status: Int32
        /// Standard output and standard error together.
        let output: String
    }

    func run(_ arguments: [String], masterKey: MasterKey) async throws -> Outcome {
        // Output into a file, not a pipe: a server another suite starts meanwhile could inherit the pipe's write
        // end and keep it open after this process exits.
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("meridian-cli-\(UUID().uuidString)")
        try #require(FileManager.default.createFile(atPath: output.path, contents: nil))
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments + ["--database-url", databaseURL]
        process.environment = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "MERIDIAN_MASTER_KEY": masterKey.base64,
            "MERIDIAN_LOG_LEVEL": "error",
        ]
        // Errors too: a failing command's message is what the test prints.
        process.standardOutput = handle
        process.standardError = handle
        // Waits without holding a thread of the concurrency pool for the life of the child.
        let status = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try ProcessLaunch.run(process)
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        return Outcome(status: status, output: try String(contentsOf: output, encoding: .utf8))
    }
}
