import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization

/// What a test upstream saw of a request, sent back as its response body.
struct Echo: Codable, Sendable {
    var upstream: String
    var method: String
    var target: String
    var headers: [[String]]
    var body: String

    func values(_ name: String) -> [String] {
        headers.filter { $0[0] == name.lowercased() }.map { $0[1] }
    }
}

/// A one-shot signal between a test and upstream handlers: every waiter, before or after `open`, goes on once
/// it is open (several stalled requests may wait on one).
final class Gate: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    init() {}

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = state.withLock { state -> Bool in
                if !state.isOpen { state.waiters.append(continuation) }
                return state.isOpen
            }
            if isOpen { continuation.resume() }
        }
    }
}

/// Bytes whose value depends on their offset (`offset % 251`), so a reordered, lost or duplicated chunk is
/// noticed. Built and checked with block copies and `memcmp`: byte loops are too slow in debug builds.
enum Pattern {
    static let chunkSize = 64 * 1024
    static let template: [UInt8] = (0..<(chunkSize + 251)).map { UInt8($0 % 251) }

    static func chunk(offset: Int, count: Int) -> ByteBuffer {
        precondition(count <= chunkSize)
        let start = offset % 251
        return ByteBuffer(bytes: template[start..<(start + count)])
    }

    /// Checks `buffer` continues the pattern at `offset`.
    static func matches(_ buffer: ByteBuffer, offset: Int) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in
            template.withUnsafeBytes { expected in
                var position = 0
                while position < bytes.count {
                    let count = min(chunkSize, bytes.count - position)
                    let start = (offset + position) % 251
                    if memcmp(bytes.baseAddress! + position, expected.baseAddress! + start, count) != 0 { return false }
                    position += count
                }
                return true
            }
        }
    }
}

/// Counts requests an upstream received, and lets a test wait for a count without polling: `reach(n)` returns
/// as soon as the n-th request has arrived, whatever the machine's speed.
final class RequestCount: Sendable {
    private struct State {
        var count = 0
        var waiters: [UUID: (target: Int, continuation: CheckedContinuation<Void, any Error>)] = [:]
    }
    private let state = Mutex(State())

    func increment() {
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.count += 1
            let reached = state.waiters.filter { $0.value.target <= state.count }
            for id in reached.keys { state.waiters[id] = nil }
            return reached.values.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    var value: Int { state.withLock { $0.count } }

    struct NotReached: Error, CustomStringConvertible {
        let target: Int
        let count: Int
        let limit: Duration
        var description: String { "\(count) requests arrived, not \(target), within \(limit)" }
    }

    /// Returns once `target` requests have arrived. The limit only keeps a broken gateway from hanging the suite:
    /// a test never relies on it passing, it throws instead of waiting forever.
    func reach(_ target: Int, within limit: Duration = .seconds(30)) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.wait(for: target) }
            group.addTask {
                try await Task.sleep(for: limit)
                throw NotReached(target: target, count: self.value, limit: limit)
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private func wait(for target: Int) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Under the lock: a cancellation that came first is seen here (the flag is set before the
                // handler runs), one that comes later finds the waiter registered. Either way it is resumed once.
                enum Outcome { case reached, cancelled, waiting }
                let outcome = state.withLock { state -> Outcome in
                    if state.count >= target { return .reached }
                    if Task.isCancelled { return .cancelled }
                    state.waiters[id] = (target, continuation)
                    return .waiting
                }
                switch outcome {
                case .reached: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .waiting: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }
}

/// Hooks a test uses to hold an upstream at a chosen point.
struct UpstreamHooks: Sendable {
    /// Every request an upstream echoed: a request the gateway refused must leave it unchanged.
    var echoed = RequestCount()
    /// `GET …/large`: opened by the test once it has the first chunk; the rest is sent after it.
    var firstChunkDelivered = Gate()
    /// `POST …/upload`: opened by the upstream when the first chunk of the request body has arrived.
    var firstChunkReceived = Gate()
    /// `GET …/stall`: the handler answers only once this opens.
    var release = Gate()
    /// `GET …/stall` requests that have arrived (and wait for `release`).
    var stalled = RequestCount()
    /// While true, `…/flaky` answers 503; afterwards 200.
    var failing = Flag()
    /// The bodies analytics received on `POST /internal/analytics/usage`, and their Authorization headers.
    var usage = ReportInbox(member: "records")
    /// The same for the refused requests the gateway reports (`POST /internal/analytics/denials`).
    var denials = ReportInbox(member: "denials")
}

/// A switch a test flips while upstreams read it.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set(_ on: Bool) { value.store(on, ordering: .releasing) }
    var isOn: Bool { value.load(ordering: .acquiring) }
}

/// What the analytics test upstream received from the gateway's reporters.
final class ReportInbox: Sendable {
    /// The body's array member holding the records.
    let member: String
    init(member: String) { self.member = member }

    private let batches = Mutex<[(authorization: String?, body: Data)]>([])
    func append(authorization: String?, body: Data) { batches.withLock { $0.append((authorization, body)) } }
    var all: [(authorization: String?, body: Data)] { batches.withLock { $0 } }

    /// Every record received so far, decoded.
    var records: [[String: Any]] {
        all.flatMap { batch -> [[String: Any]] in
            let object = try? JSONSerialization.jsonObject(with: batch.body) as? [String: Any]
            return object?[member] as? [[String: Any]] ?? []
        }
    }
}

/// A real HTTP server standing in for a Meridian service: it echoes what it received and has routes that
/// stream, stall and send hop-by-hop headers. Like the users service, each publishes its issuer's signing keys
/// at `/.well-known/jwks.json`, which is where the gateway fetches them.
enum TestUpstream {
    static func router(name: String, hooks: UpstreamHooks, issuer: TestIssuer) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/**/large") { request, _ -> Response in
            let total = request.uri.queryParameters.get("bytes", as: Int.self) ?? 0
            let hooks = hooks
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"],
                body: ResponseBody { writer in
                    var offset = 0
                    while offset < total {
                        let count = min(Pattern.chunkSize, total - offset)
                        try await writer.write(Pattern.chunk(offset: offset, count: count))
                        if offset == 0 { await hooks.firstChunkDelivered.wait() }
                        offset += count
                    }
                    try await writer.finish(nil)
                })
        }
        router.post("/**/upload") { request, _ -> Response in
            var received = 0
            var intact = true
            for try await buffer in request.body {
                if received == 0 { hooks.firstChunkReceived.open() }
                intact = intact && Pattern.matches(buffer, offset: received)
                received += buffer.readableBytes
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain"],
                body: .init(byteBuffer: ByteBuffer(string: "\(received) \(intact ? "intact" : "corrupt")")))
        }
        router.get("/**/stall") { _, _ -> Response in
            hooks.stalled.increment()
            await hooks.release.wait()
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "late")))
        }
        router.get("/**/hop") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.connection] = "X-Hop-Response"
            headers[HTTPField.Name("X-Hop-Response")!] = "1"
            headers[HTTPField.Name("Keep-Alive")!] = "timeout=5"
            headers[.proxyAuthenticate] = "Basic realm=\"upstream\""
            headers[.trailer] = "X-Checksum"
            headers[.upgrade] = "h2c"
            headers[HTTPField.Name("X-End-To-End")!] = "kept"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "hop")))
        }
        let echo: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            // Answered here rather than by routes of their own: the router does not fall back from a constant
            // segment to `/**`, so a `/.well-known/jwks.json` route would hide `/.well-known/other`.
            if request.method == .get, request.uri.path == "/.well-known/jwks.json" {
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/json", HTTPField.Name("X-Upstream")!: name],
                    body: .init(byteBuffer: try issuer.servedJWKS()))
            }
            // The gateway waits for users to be ready before it fetches the keys; not a request to echo.
            if request.method == .get, request.uri.path == "/readyz" { return Response(status: .ok) }
            // Usage telemetry and refusal reports arrive in the background; tests that count echoed requests must not
            // see them.
            if request.method == .post,
                let inbox = [
                    "/internal/analytics/usage": hooks.usage, "/internal/analytics/denials": hooks.denials,
                ][request.uri.path]
            {
                var request = request
                let body = try await request.collectBody(upTo: 4 << 20)
                inbox.append(authorization: request.headers[.authorization], body: Data(body.readableBytesView))
                let records = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])?[inbox.member]
                let count = (records as? [Any])?.count ?? 0
                return Response(
                    status: .accepted, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: "{\"accepted\":\(count)}")))
            }
            if request.uri.path.hasSuffix("/flaky") {
                hooks.echoed.increment()
                return Response(status: hooks.failing.isOn ? .serviceUnavailable : .ok)
            }
            hooks.echoed.increment()
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            let echo = Echo(
                upstream: name, method: request.method.rawValue, target: request.head.path ?? "",
                headers: request.headers.map { [$0.name.canonicalName, $0.value] }, body: String(buffer: body))
            let data = try JSONEncoder().encode(echo)
            // Status and headers an upstream sets must come back through the gateway unchanged.
            let status: HTTPResponse.Status = request.method == .post ? .created : .ok
            return Response(
                status: status,
                headers: [
                    .contentType: "application/json", .location: "/somewhere/1", .eTag: "\"v7\"",
                    HTTPField.Name("X-Upstream")!: name,
                ],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        for method: HTTPRequest.Method in [.get, .head, .post, .put, .patch, .delete, .options] {
            router.on("/**", method: method, use: echo)
        }
        return router
    }

    /// Runs one upstream per name on loopback ports, then `body` with their base URLs by name.
    static func run<Value: Sendable>(
        _ names: [String], hooks: UpstreamHooks = UpstreamHooks(), issuer: TestIssuer = .shared,
        _ body: @Sendable ([String: String]) async throws -> Value
    ) async throws -> Value {
        try await run(names[...], urls: [:], hooks: hooks, issuer: issuer, body)
    }

    private static func run<Value: Sendable>(
        _ names: ArraySlice<String>, urls: [String: String], hooks: UpstreamHooks, issuer: TestIssuer,
        _ body: @Sendable ([String: String]) async throws -> Value
    ) async throws -> Value {
        guard let name = names.first else { return try await body(urls) }
        let app = Application(
            router: router(name: name, hooks: hooks, issuer: issuer),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            logger: Logger(label: "upstream-\(name)"))
        return try await app.test(.live) { client in
            var urls = urls
            urls[name] = "http://127.0.0.1:\(client.port!)"
            return try await run(names.dropFirst(), urls: urls, hooks: hooks, issuer: issuer, body)
        }
    }
}
