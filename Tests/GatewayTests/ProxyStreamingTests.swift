import AsyncHTTPClient
import Foundation
import Gateway
import HTTPTypes
import MeridianKit
import NIOCore
import Testing

/// Streaming is proved by interlocking, not timing: each side holds back the rest of a body until the other
/// end has received its first chunk. A proxy that collected bodies would deadlock (and hit the time limit).
@Suite(.timeLimit(.minutes(2))) struct ProxyStreamingTests {
    static let size = 6 * 1024 * 1024 + 12_345

    @Test func largeResponseIsStreamed() async throws {
        let hooks = UpstreamHooks()
        try await TestUpstream.run(GatewayHarness.services, hooks: hooks) { urls in
            try await GatewayHarness.run(urls: urls) { client, baseURL in
                try await StreamingClient.with { http in
                    let response = try await http.execute(
                        client.request(baseURL + "/api/analytics/large?bytes=\(Self.size)"),
                        timeout: .seconds(60))
                    #expect(response.status == .ok)
                    #expect(response.headers["content-type"] == ["application/octet-stream"])
                    var received = 0
                    var intact = true
                    for try await buffer in response.body {
                        // The upstream sends the rest only after this: the gateway must not wait for the end.
                        if received == 0 { hooks.firstChunkDelivered.open() }
                        intact = intact && Pattern.matches(buffer, offset: received)
                        received += buffer.readableBytes
                    }
                    #expect(received == Self.size)
                    #expect(intact)
                }
            }
        }
    }

    @Test(arguments: [true, false])
    func largeRequestIsStreamed(declaredLength: Bool) async throws {
        let hooks = UpstreamHooks()
        try await TestUpstream.run(GatewayHarness.services, hooks: hooks) { urls in
            let options = GatewayOptions(maxRequestBodySize: 16 * 1024 * 1024)
            try await GatewayHarness.run(urls: urls, options: options) { client, baseURL in
                try await StreamingClient.with { http in
                    let (chunks, continuation) = AsyncStream<ByteBuffer>.makeStream()
                    let producer = Task {
                        var offset = 0
                        while offset < Self.size {
                            let count = min(Pattern.chunkSize, Self.size - offset)
                            continuation.yield(Pattern.chunk(offset: offset, count: count))
                            // The rest follows only once the upstream has the first chunk.
                            if offset == 0 { await hooks.firstChunkReceived.wait() }
                            offset += count
                        }
                        continuation.finish()
                    }
                    var request = client.request(baseURL + "/api/orders/upload")
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/octet-stream")
                    request.body = .stream(chunks, length: declaredLength ? .known(Int64(Self.size)) : .unknown)
                    let response = try await http.execute(request, timeout: .seconds(60))
                    let text = String(buffer: try await response.body.collect(upTo: 1024))
                    await producer.value
                    #expect(response.status == .ok)
                    #expect(text == "\(Self.size) intact")
                }
            }
        }
    }
}
