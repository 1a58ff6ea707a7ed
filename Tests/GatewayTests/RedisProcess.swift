import Foundation
import MeridianTestSupport
import NIOCore
import NIOPosix

/// The test command's Redis (`MERIDIAN_TEST_REDIS_URL`), and private `redis-server` processes for tests that
/// stop Redis mid-test (the shared one must keep running for the others).
enum TestRedis {
    static var sharedURL: String? { ProcessInfo.processInfo.environment["MERIDIAN_TEST_REDIS_URL"] }
    static var isConfigured: Bool { sharedURL != nil }

    final class Server: Sendable {
        let port: Int
        let process: Process
        var url: String { "redis://127.0.0.1:\(port)" }

        private init(port: Int, process: Process) {
            self.port = port
            self.process = process
        }

        /// A server on a free loopback port without persistence, accepting connections when this returns.
        static func start() async throws -> Server {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: "127.0.0.1", port: 0).get()
            let port = channel.localAddress!.port!
            try await channel.close()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try ProcessLaunch.run(process)
            let server = Server(port: port, process: process)
            for _ in 0..<100 {
                if let connection = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connect(host: "127.0.0.1", port: port).get()
                {
                    try? await connection.close()
                    return server
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            server.stop()
            throw NotStarted()
        }

        func stop() {
            if process.isRunning {
                ProcessLaunch.kill(process)
            }
        }

        struct NotStarted: Error {}
    }
}
