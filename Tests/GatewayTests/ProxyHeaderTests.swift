import AsyncHTTPClient
import Foundation
import Gateway
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import NIOCore
import NIOHTTP1
import Testing

@Suite struct ProxyHeaderTests {
    @Test func requestIDIsKeptWhenSaneAndGeneratedOtherwise() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls) { client, _ in
                let kept = try await client.execute(
                    uri: "/api/users", method: .get, headers: [.requestID: "client-id-123"])
                #expect(try GatewayHarness.echo(kept.body).values("x-request-id") == ["client-id-123"])
                #expect(kept.headers[.requestID] == "client-id-123")

                for incoming in [nil, "has space", String(repeating: "x", count: 200)] {
                    var headers = HTTPFields()
                    if let incoming { headers[.requestID] = incoming }
                    let response = try await client.execute(uri: "/api/users", method: .get, headers: headers)
                    let seen = try GatewayHarness.echo(response.body).values("x-request-id")
                    #expect(seen.count == 1)
                    #expect(seen.first?.hasPrefix("req_") == true)
                    #expect(response.headers[.requestID] == seen.first)
                }
            }
        }
    }

    @Test func forwardedIsAddedAndAppended() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls) { client, _ in
                // The test client connects to "localhost" on 127.0.0.1 and sends that as the Host.
                let fresh = try await client.execute(uri: "/api/users", method: .get)
                #expect(
                    try GatewayHarness.echo(fresh.body).values("forwarded") == [
                        "for=127.0.0.1;proto=http;host=localhost"
                    ])

                let appended = try await client.execute(
                    uri: "/api/users", method: .get, headers: [.forwarded: "for=192.0.2.60;proto=https;by=203.0.113.43"]
                )
                #expect(
                    try GatewayHarness.echo(appended.body).values("forwarded") == [
                        "for=192.0.2.60;proto=https;by=203.0.113.43, for=127.0.0.1;proto=http;host=localhost"
                    ])
            }
        }
    }

    @Test func forwardedQuotesHostWithPort() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls) { client, baseURL in
                try await StreamingClient.with { http in
                    let response = try await http.execute(
                        client.request(baseURL + "/api/users"), timeout: .seconds(10))
                    let echo = try GatewayHarness.echo(try await response.body.collect(upTo: 1 << 20))
                    let port = URLComponents(string: baseURL)!.port!
                    #expect(echo.values("forwarded") == ["for=127.0.0.1;proto=http;host=\"127.0.0.1:\(port)\""])
                }
            }
        }
    }

    @Test func hopByHopRequestHeadersStayOnTheirHop() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls) { client, baseURL in
                try await StreamingClient.with { http in
                    var request = client.request(baseURL + "/api/users/echo")
                    request.headers.add(name: "Connection", value: "keep-alive, X-Drop-Me")
                    request.headers.add(name: "X-Drop-Me", value: "1")
                    request.headers.add(name: "Keep-Alive", value: "timeout=5")
                    request.headers.add(name: "Proxy-Authorization", value: "Basic c2VjcmV0")
                    request.headers.add(name: "Proxy-Connection", value: "keep-alive")
                    request.headers.add(name: "TE", value: "trailers")
                    request.headers.add(name: "Trailer", value: "X-Checksum")
                    request.headers.add(name: "Upgrade", value: "h2c")
                    request.headers.add(name: "X-End-To-End", value: "kept")
                    let response = try await http.execute(request, timeout: .seconds(10))
                    #expect(response.status == .ok)
                    let echo = try GatewayHarness.echo(try await response.body.collect(upTo: 1 << 20))
                    let names = Set(echo.headers.map { $0[0] })
                    for dropped in [
                        "connection", "x-drop-me", "keep-alive", "proxy-authorization", "proxy-connection", "te",
                        "trailer", "upgrade",
                    ] {
                        #expect(!names.contains(dropped), "\(dropped) reached the upstream")
                    }
                    #expect(echo.values("x-end-to-end") == ["kept"])
                }
            }
        }
    }

    @Test func hopByHopResponseHeadersStayOnTheirHop() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            let dropped = ["x-hop-response", "keep-alive", "proxy-authenticate", "trailer", "upgrade"]
            try await StreamingClient.with { http in
                // The upstream really sends them: without the gateway they arrive.
                let direct = try await http.execute(
                    HTTPClientRequest(url: urls["users"]! + "/api/users/hop"), timeout: .seconds(10))
                for name in dropped { #expect(direct.headers[name].count == 1, "upstream did not send \(name)") }
                #expect(direct.headers["connection"].contains { $0.contains("X-Hop-Response") })
                _ = try await direct.body.collect(upTo: 1024)
            }
            try await GatewayHarness.run(urls: urls) { client, _ in
                let response = try await client.execute(uri: "/api/users/hop", method: .get)
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "hop")
                for name in dropped {
                    #expect(response.headers[HTTPField.Name(name)!] == nil, "\(name) reached the client")
                }
                #expect(response.headers[.connection].map { !$0.contains("X-Hop-Response") } ?? true)
                #expect(response.headers[HTTPField.Name("X-End-To-End")!] == "kept")
            }
        }
    }
}
