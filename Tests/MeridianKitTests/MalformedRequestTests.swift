import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
@testable import MeridianKit
import NIOCore
import NIOPosix
import Testing

/// Requests the HTTP/1.1 parser cannot read get a problem+json answer with a request id, then the connection
/// closes; a well-formed request on the same listener is unaffected.
@Suite struct MalformedRequestTests {
    @Test(arguments: [
        ("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: $)om$\r\n\r\n", 400),
        ("GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Name: v\r\n\r\n", 400),
        ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 100 * 1024))\r\n\r\n", 431),
    ])
    func unreadableRequestsGetAProblemAndTheConnectionCloses(request: String, status: Int) async throws {
        try await Self.withListener { port in
            let answer = try await Self.exchange(port: port, bytes: request)
            let (head, body) = try #require(Self.split(answer))
            #expect(head.first == "HTTP/1.1 \(status) \(status == 431 ? "Request Header Fields Too Large" : "Bad Request")")
            let fields = Self.fields(head)
            #expect(fields["content-type"] == "application/problem+json")
            #expect(fields["connection"] == "close")
            #expect(RequestIDMiddleware.isSane(try #require(fields["x-request-id"])))
            let problem = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            #expect(problem["status"] as? Int == status)
            #expect((problem["type"] as? String)?.hasPrefix(Problem.typeBase) == true)

            let healthy = try await Self.exchange(port: port, bytes: "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(healthy.hasPrefix("HTTP/1.1 200"))
        }
    }

    static func withListener(_ body: @Sendable (Int) async throws -> Void) async throws {
        let readiness = Readiness()
        readiness.set(true)
        let router = ServiceHost.makeRouter(metrics: ServiceMetrics(service: "malformed"), readiness: readiness)
        let app = ServiceHost.makeApplication(
            router: router, listen: ListenAddress(host: "127.0.0.1", port: 0), services: [], readiness: readiness,
            logger: Logger(label: "malformed-test"))
        try await app.test(.live) { client in try await body(try #require(client.port)) }
    }

    /// Writes `bytes` and reads until the server closes the connection (at the latest its idle timeout).
    static func exchange(port: Int, bytes: String) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: bytes))
            var received = ""
            for try await buffer in inbound { received += String(buffer: buffer) }
            return received
        }
    }

    static func split(_ answer: String) -> (head: [String], body: String)? {
        guard let range = answer.range(of: "\r\n\r\n") else { return nil }
        return (answer[..<range.lowerBound].components(separatedBy: "\r\n"), String(answer[range.upperBound...]))
    }

    static func fields(_ head: [String]) -> [String: String] {
        var fields: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }
}
