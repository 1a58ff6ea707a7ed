import Crypto
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A small Redis client on SwiftNIO: a fixed pool of connections, each pipelined (many commands in flight, the
/// replies matched in order), a timeout per command, and reconnection on the next command after a connection
/// breaks. RESP2 on the wire; the decoder also reads RESP3 replies.
///
/// Meridian keeps only the gateway's rate-limit state in Redis, so the client does what that needs and no more:
/// commands, scripts (`EVALSHA` with the `NOSCRIPT` fallback), no pub/sub, no cluster.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    let group: any EventLoopGroup
    private let slots: [Slot]
    private let next = Atomic<Int>(0)
    private let isShutDown = Atomic<Bool>(false)

    /// One connection of the pool, connected on first use and again after it broke. Concurrent callers share
    /// one connection attempt.
    final class Slot: Sendable {
        enum State {
            case idle
            case connecting(Task<RedisConnection, any Error>)
            case connected(RedisConnection)
        }
        let state = Mutex(State.idle)
    }

    public init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.group = eventLoopGroup
        self.slots = (0..<max(1, configuration.poolSize)).map { _ in Slot() }
    }

    public convenience init(url: String, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        self.init(configuration: try RedisConfiguration(url: url), eventLoopGroup: eventLoopGroup)
    }

    /// Sends one command; an error reply is thrown as `RedisError`, no reply as `RedisUnavailable`.
    @discardableResult
    public func send(_ arguments: [RESPArgument]) async throws -> RESPValue {
        let reply = try await connection().send(arguments, timeout: configuration.commandTimeout)
        if case .error(let message) = reply { throw RedisError(message: message) }
        return reply
    }

    @discardableResult
    public func send(_ arguments: RESPArgument...) async throws -> RESPValue {
        try await send(arguments)
    }

    /// Runs a Lua script by its SHA-1 (`EVALSHA`); when the server does not know it yet (first use, a restart,
    /// `SCRIPT FLUSH`), sends the whole script with `EVAL`, which also caches it for the next `EVALSHA`.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [RESPArgument]) async throws -> RESPValue {
        let tail: [RESPArgument] = [.string(String(keys.count))] + keys.map { .string($0) } + arguments
        do {
            return try await send([.string("EVALSHA"), .string(script.sha1)] + tail)
        } catch let error as RedisError where error.code == "NOSCRIPT" {
            return try await send([.string("EVAL"), .string(script.source)] + tail)
        }
    }

    /// Closes every connection; later commands fail with `RedisUnavailable(.shutDown)`.
    public func shutdown() async {
        isShutDown.store(true, ordering: .releasing)
        for slot in slots {
            let state = slot.state.withLock { state -> RedisClient.Slot.State in
                defer { state = .idle }
                return state
            }
            switch state {
            case .connected(let connection): await connection.close()
            case .connecting(let task):
                if let connection = try? await task.value { await connection.close() }
            case .idle: break
            }
        }
    }

    /// A connected connection of the pool, round robin.
    func connection() async throws -> RedisConnection {
        guard !isShutDown.load(ordering: .acquiring) else {
            throw RedisUnavailable(reason: .shutDown, detail: "the client was shut down")
        }
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        let slot = slots[(index % slots.count + slots.count) % slots.count]
        let task: Task<RedisConnection, any Error> = slot.state.withLock { state in
            switch state {
            case .connected(let connection) where connection.isActive:
                return Task { connection }
            case .connecting(let task):
                return task
            case .connected, .idle:
                let task = Task { try await self.open() }
                state = .connecting(task)
                return task
            }
        }
        do {
            let connection = try await task.value
            slot.state.withLock { state in
                if case .connecting = state { state = .connected(connection) }
            }
            return connection
        } catch {
            slot.state.withLock { state in
                if case .connecting = state { state = .idle }
            }
            throw error
        }
    }

    /// A new connection, authenticated and on the configured database.
    private func open() async throws -> RedisConnection {
        let connection = try await RedisConnection.connect(
            host: configuration.host, port: configuration.port, connectTimeout: configuration.connectTimeout,
            group: group)
        do {
            if let password = configuration.password {
                var auth: [RESPArgument] = ["AUTH"]
                if let username = configuration.username { auth.append(.string(username)) }
                auth.append(.string(password))
                try Self.check(try await connection.send(auth, timeout: configuration.commandTimeout))
            }
            if configuration.database != 0 {
                try Self.check(
                    try await connection.send(
                        ["SELECT", .string(String(configuration.database))], timeout: configuration.commandTimeout))
            }
            return connection
        } catch {
            await connection.close()
            throw error
        }
    }

    private static func check(_ reply: RESPValue) throws {
        if case .error(let message) = reply { throw RedisError(message: message) }
    }
}

/// A Lua script and its SHA-1, the name `EVALSHA` knows it by.
public struct RedisScript: Sendable {
    public let source: String
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Data(source.utf8)).hexString
    }
}
