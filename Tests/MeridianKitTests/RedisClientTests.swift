import Foundation
import MeridianKit
import NIOCore
import Testing

@testable import MeridianKit

@Suite struct RESPDecoderTests {
    func decode(_ text: String) throws -> (RESPValue?, Int) {
        var buffer = ByteBuffer(string: text)
        var decoder = RESPDecoder()
        let value = try decoder.decode(buffer: &buffer)
        return (value, buffer.readableBytes)
    }

    @Test func decodesEveryRESP2Type() throws {
        #expect(try decode("+OK\r\n").0 == .simpleString("OK"))
        #expect(try decode("-ERR wrong\r\n").0 == .error("ERR wrong"))
        #expect(try decode(":-42\r\n").0 == .integer(-42))
        #expect(try decode("$5\r\nhe\r\no\r\n").0 == .bulkString(ByteBuffer(string: "he\r\no")))
        #expect(try decode("$-1\r\n").0 == .bulkString(nil))
        #expect(try decode("*-1\r\n").0 == .array(nil))
        #expect(
            try decode("*3\r\n:1\r\n$1\r\na\r\n*1\r\n+x\r\n").0
                == .array([.integer(1), .bulkString(ByteBuffer(string: "a")), .array([.simpleString("x")])]))
    }

    @Test func decodesRESP3Types() throws {
        #expect(try decode("_\r\n").0 == .null)
        #expect(try decode("#t\r\n").0 == .boolean(true))
        #expect(try decode(",1.5\r\n").0 == .double(1.5))
        #expect(try decode("(12345678901234567890\r\n").0 == .bigNumber("12345678901234567890"))
        #expect(try decode("!9\r\nERR oops!\r\n").0 == .error("ERR oops!"))
        #expect(try decode("=7\r\ntxt:abc\r\n").0 == .bulkString(ByteBuffer(string: "abc")))
        let map = try decode("%1\r\n+k\r\n:1\r\n").0
        #expect(map == .map([(.simpleString("k"), .integer(1))]))
    }

    /// A reply split anywhere is not decoded (and nothing is consumed) until its last byte has arrived.
    @Test func waitsForIncompleteReplies() throws {
        let whole = "*2\r\n$3\r\nabc\r\n:7\r\n"
        for cut in 1..<whole.utf8.count {
            let prefix = String(whole.utf8.prefix(cut))!
            let (value, left) = try decode(prefix)
            #expect(value == nil, "cut at \(cut)")
            #expect(left == cut)
        }
        let (value, left) = try decode(whole + "+next\r\n")
        #expect(value == .array([.bulkString(ByteBuffer(string: "abc")), .integer(7)]))
        #expect(left == 7, "the next reply stays in the buffer")
    }

    @Test func refusesGarbage() {
        #expect(throws: RESPDecoder.ProtocolViolation.self) { try decode("?what\r\n") }
        #expect(throws: RESPDecoder.ProtocolViolation.self) { try decode(":12a\r\n") }
        #expect(throws: RESPDecoder.ProtocolViolation.self) { try decode("$3\r\nabcXY") }
        let deep = String(repeating: "*1\r\n", count: 40) + ":1\r\n"
        #expect(throws: RESPDecoder.ProtocolViolation.self) { try decode(deep) }
    }

    @Test func encodesCommandsAsArraysOfBulkStrings() {
        var buffer = ByteBuffer()
        RESPEncoder.encode(["SET", "clé", .bytes(ByteBuffer(bytes: [0, 13, 10]))], into: &buffer)
        #expect(Array(buffer.readableBytesView) == Array("*3\r\n$3\r\nSET\r\n$4\r\nclé\r\n$3\r\n".utf8) + [0, 13, 10] + Array("\r\n".utf8))
    }

    @Test func parsesURLs() throws {
        let full = try RedisConfiguration(url: "redis://user:p%40ss@cache.internal:6380/3")
        #expect(full.host == "cache.internal" && full.port == 6380 && full.database == 3)
        #expect(full.username == "user" && full.password == "p@ss")
        let bare = try RedisConfiguration(url: "redis://127.0.0.1")
        #expect(bare.port == 6379 && bare.password == nil && bare.database == 0)
        #expect(throws: RedisConfiguration.InvalidURL.self) { try RedisConfiguration(url: "http://127.0.0.1") }
        #expect(throws: RedisConfiguration.InvalidURL.self) { try RedisConfiguration(url: "redis://h/x") }
    }
}

/// Against a real Redis: the test command's (`MERIDIAN_TEST_REDIS_URL`), or a private `redis-server` for the
/// tests that stop it.
@Suite(.enabled(if: RedisTestServer.isConfigured, "needs MERIDIAN_TEST_REDIS_URL"))
struct RedisClientTests {
    func withClient<T>(poolSize: Int = 2, _ body: (RedisClient) async throws -> T) async throws -> T {
        var configuration = try RedisConfiguration(url: RedisTestServer.sharedURL!)
        configuration.poolSize = poolSize
        // Generous: these tests are about replies, not timeouts, and CI runs them beside every other suite.
        configuration.commandTimeout = .seconds(5)
        configuration.connectTimeout = .seconds(5)
        let client = RedisClient(configuration: configuration)
        do {
            let value = try await body(client)
            await client.shutdown()
            return value
        } catch {
            await client.shutdown()
            throw error
        }
    }

    var key: String { "meridian-test:\(UUID().uuidString)" }

    @Test func setsAndGetsBinaryValues() async throws {
        try await withClient { client in
            let key = key
            let bytes = ByteBuffer(bytes: [0, 1, 2, 13, 10, 255])
            #expect(try await client.send("SET", .string(key), .bytes(bytes), "PX", "10000") == .simpleString("OK"))
            #expect(try await client.send("GET", .string(key)) == .bulkString(bytes))
            #expect(try await client.send("GET", .string(key + ":missing")).isNull)
            try await client.send("DEL", .string(key))
        }
    }

    @Test func errorRepliesAreThrown() async throws {
        try await withClient { client in
            let key = key
            try await client.send("SET", .string(key), "text", "PX", "10000")
            let error = await #expect(throws: RedisError.self) { try await client.send("INCR", .string(key)) }
            #expect(error?.code == "ERR")
            // The connection stays usable after an error reply.
            #expect(try await client.send("PING") == .simpleString("PONG"))
        }
    }

    /// Many commands in flight on one connection at once: every caller gets its own reply. INCR returns the
    /// new value, so the replies are exactly 1…n, each once, whatever order the tasks ran in.
    @Test func pipelinesConcurrentCommandsOnOneConnection() async throws {
        try await withClient(poolSize: 1) { client in
            let key = key
            let count = 500
            let replies = try await withThrowingTaskGroup(of: Int64.self) { group in
                for _ in 0..<count { group.addTask { try await client.send("INCR", .string(key)).int ?? -1 } }
                var all: [Int64] = []
                for try await reply in group { all.append(reply) }
                return all
            }
            #expect(replies.sorted() == Array(1...Int64(count)))
            try await client.send("DEL", .string(key))
        }
    }

    /// EVALSHA first; after `SCRIPT FLUSH` the server answers NOSCRIPT and the client sends the script itself.
    @Test func scriptsFallBackFromEvalshaToEval() async throws {
        try await withClient { client in
            let script = RedisScript("return {KEYS[1], ARGV[1], '\(UUID().uuidString)'}")
            try await client.send("SCRIPT", "FLUSH")
            let exists = try await client.send("SCRIPT", "EXISTS", .string(script.sha1))
            #expect(exists.array?.first?.int == 0)
            let first = try await client.evaluate(script, keys: ["k"], arguments: ["a"])
            #expect(first.array?.prefix(2).compactMap(\.string) == ["k", "a"])
            // EVAL cached it: the next call runs by SHA.
            let cached = try await client.send("SCRIPT", "EXISTS", .string(script.sha1))
            #expect(cached.array?.first?.int == 1)
            #expect(try await client.evaluate(script, keys: ["k2"], arguments: ["b"]).array?.first?.string == "k2")
        }
    }

    /// A reply that does not come within the timeout fails the command; the next command gets a new connection.
    @Test func timesOutAndReconnects() async throws {
        var configuration = try RedisConfiguration(url: RedisTestServer.sharedURL!)
        configuration.poolSize = 1
        // Long enough that the reconnect and PING after it fit even on a loaded CI machine.
        configuration.commandTimeout = .seconds(1)
        configuration.connectTimeout = .seconds(5)
        let client = RedisClient(configuration: configuration)
        let error = await #expect(throws: RedisUnavailable.self) {
            // Blocks the connection for 5 s, far past the timeout.
            try await client.send("BLPOP", .string("meridian-test:never:\(UUID().uuidString)"), "5")
        }
        #expect(error?.reason == .timeout)
        #expect(try await client.send("PING") == .simpleString("PONG"))
        await client.shutdown()
        await #expect(throws: RedisUnavailable.self) { try await client.send("PING") }
    }

    /// Redis stopped: commands fail at once as unavailable (no hang); started again on the same port: the client
    /// reconnects by itself.
    @Test func survivesARedisRestart() async throws {
        let server = try await RedisTestServer.Process.start()
        defer { server.stop() }
        var configuration = try RedisConfiguration(url: server.url)
        configuration.poolSize = 2
        configuration.connectTimeout = .seconds(5)
        configuration.commandTimeout = .seconds(5)
        let client = RedisClient(configuration: configuration)
        #expect(try await client.send("SET", "k", "v") == .simpleString("OK"))
        server.stop()
        for _ in 0..<3 {
            await #expect(throws: RedisUnavailable.self) { try await client.send("GET", "k") }
        }
        let restarted = try await RedisTestServer.Process.start(port: server.port)
        defer { restarted.stop() }
        #expect(try await client.send("PING") == .simpleString("PONG"))
        #expect(try await client.send("PING") == .simpleString("PONG"))
        await client.shutdown()
    }
}
