import Foundation
import NIOCore
import NIOPosix

/// A private `redis-server` (the Debian package) on a loopback port, without persistence, for the tests that
/// must own their Redis: they stop it mid-test, restart it, or need its keys to start empty. The test command's
/// shared Redis (`MERIDIAN_TEST_REDIS_URL`) must keep running for every other suite, so it is never used here.
public final class TestRedisServer: Sendable {
    public let port: Int
    let process: Process

    public var url: String { "redis://127.0.0.1:\(port)" }

    /// The shared Redis of the test command, if one is configured: tests that need Redis at all are enabled by it.
    public static var sharedURL: String? { ProcessInfo.processInfo.environment["MERIDIAN_TEST_REDIS_URL"] }
    public static var isConfigured: Bool { sharedURL != nil }

    private init(port: Int, process: Process) {
        self.port = port
        self.process = process
    }

    /// Starts a server on `port` (a free one when nil) and returns once it accepts connections; throws after
    /// 5 s rather than wait forever.
    public static func start(port: Int? = nil) async throws -> TestRedisServer {
        let chosen: Int
        if let port { chosen = port } else { chosen = try await freePort() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "redis-server", "--port", String(chosen), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try ProcessLaunch.run(process)
        let server = TestRedisServer(port: chosen, process: process)
        for _ in 0..<100 {
            if await accepts(port: chosen) { return server }
            try await Task.sleep(for: .milliseconds(50))
        }
        server.stop()
        throw StartFailed(port: chosen)
    }

    /// Kills the server (SIGKILL: no graceful shutdown, like a crash) and reaps it; does nothing when stopped.
    public func stop() {
        ProcessLaunch.kill(process)
    }

    public struct StartFailed: Error, CustomStringConvertible {
        public let port: Int
        public var description: String { "redis-server did not accept connections on port \(port) within 5 s" }
    }

    /// A loopback port nothing listens on: bound, then closed again.
    public static func freePort() async throws -> Int {
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
