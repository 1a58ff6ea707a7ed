import Foundation
import MeridianTestSupport
import NIOCore
import NIOPosix

/// The Redis of the test command (`MERIDIAN_TEST_REDIS_URL`), and private `redis-server` processes for the tests
/// that stop Redis in the middle: those must not stop the shared one.
enum RedisTestServer {
    static var sharedURL: String? { ProcessInfo.processInfo.environment["MERIDIAN_TEST_REDIS_URL"] }
    static var isConfigured: Bool { sharedURL != nil }

    /// A private server on a free loopback port: no persistence, killed by `stop`.
    final class Process: Sendable {
        let port: Int
        let process: Foundation.Process

        var url: String { "redis://127.0.0.1:\(port)" }

        init(port: Int) throws {
            self.port = port
            let process = Foundation.Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try ProcessLaunch.run(process)
            self.process = process
        }

        /// Starts a server on a free port and waits until it accepts connections.
        static func start(port: Int? = nil) async throws -> Process {
            let chosen: Int
            if let port { chosen = port } else { chosen = try await freePort() }
            let server = try Process(port: chosen)
            for _ in 0..<100 {
                if await accepts(port: chosen) { return server }
                try await Task.sleep(for: .milliseconds(50))
            }
            server.stop()
            throw StartFailed()
        }

        func stop() {
            if process.isRunning {
                ProcessLaunch.kill(process)
            }
        }

        struct StartFailed: Error {}
    }

    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }

    static func accepts(port: Int) async -> Bool {
        guard
            let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
        else { return false }
        try? await channel.close()
        return true
    }
}
