import Foundation
import Gateway
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import NIOCore
import Testing

@Suite struct ProxyRoutingTests {
    @Test func routesEachPrefixToItsService() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls) { client, _ in
                let expectations = [
                    ("/api/users", "users"), ("/api/users/usr_1", "users"),
                    ("/api/orders", "orders"), ("/api/orders/ord_1/payments", "orders"),
                    ("/api/notifications", "notifications"), ("/api/notifications/a/b", "notifications"),
                    ("/api/analytics", "analytics"), ("/api/analytics/events", "analytics"),
                    ("/api/roles", "users"), ("/api/roles/support", "users"),
                    ("/api/clients", "users"), ("/api/clients/cli_1", "users"),
                    ("/oauth/authorize?client_id=x", "users"), ("/.well-known/oauth-authorization-server", "users"),
                ]
                for (path, service) in expectations {
                    let response = try await client.execute(uri: path, method: .get)
                    #expect(response.status == .ok, "\(path)")
                    #expect(try GatewayHarness.echo(response.body).upstream == service, "\(path)")
                    #expect(response.headers[HTTPField.Name("X-Upstream")!] == service, "\(path)")
                }
            }
        }
    }

    @Test func forwardsMethodPathQueryBodyAndHeaders() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls) { client, _ in
                let target = "/api/orders/ord_1/things?limit=2&cursor=a%2Fb&email=x%40y.z"
                let body = #"{"quantity": 3, "name": "Widget \u00e9"}"#
                for method: HTTPRequest.Method in [.post, .put, .patch, .delete, .get] {
                    let sendsBody = method != .get
                    var headers: HTTPFields = [
                        HTTPField.Name("X-Custom")!: "custom value", .authorization: client.authorization,
                        .accept: "application/json", .ifMatch: "\"v3\"", .idempotencyKey: "key-\(method.rawValue)",
                    ]
                    if sendsBody { headers[.contentType] = "application/json" }
                    let response = try await client.execute(
                        uri: target, method: method, headers: headers, body: sendsBody ? ByteBuffer(string: body) : nil)
                    #expect(response.status == (method == .post ? .created : .ok))
                    #expect(response.headers[.location] == "/somewhere/1")
                    #expect(response.headers[.eTag] == "\"v7\"")
                    #expect(response.headers[.contentType] == "application/json")
                    let echo = try GatewayHarness.echo(response.body)
                    #expect(echo.upstream == "orders")
                    #expect(echo.method == method.rawValue)
                    #expect(echo.target == target)
                    #expect(echo.body == (sendsBody ? body : ""))
                    #expect(echo.values("x-custom") == ["custom value"])
                    // Unchanged: each service verifies the token again.
                    #expect(echo.values("authorization") == [client.authorization])
                    #expect(echo.values("accept") == ["application/json"])
                    #expect(echo.values("if-match") == ["\"v3\""])
                    #expect(echo.values("idempotency-key") == ["key-\(method.rawValue)"])
                    if sendsBody {
                        #expect(echo.values("content-type") == ["application/json"])
                        #expect(echo.values("content-length") == [String(body.utf8.count)])
                    }
                }
            }
        }
    }

    @Test func headIsForwardedAsHead() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls) { client, _ in
                let response = try await client.execute(uri: "/api/users/usr_1", method: .head)
                #expect(response.status == .ok)
                #expect(response.headers[HTTPField.Name("X-Upstream")!] == "users")
                #expect(response.body.readableBytes == 0)
            }
        }
    }

    @Test func unknownPathsAreProblem404WithoutReachingAnUpstream() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls) { client, _ in
                for path in ["/", "/api", "/api/unknown", "/api/usersx", "/api/orders-archive/1", "/users"] {
                    let response = try await client.execute(uri: path, method: .get)
                    #expect(response.status == .notFound, "\(path)")
                    #expect(response.headers[.contentType] == Problem.contentType, "\(path)")
                    #expect(response.headers[HTTPField.Name("X-Upstream")!] == nil, "\(path)")
                    let problem = try GatewayHarness.json(response.body)
                    #expect(problem["status"] as? Int == 404, "\(path)")
                    #expect(problem["type"] as? String != nil, "\(path)")
                }
            }
        }
    }

    @Test func dotSegmentsAreRefused() async throws {
        try await TestUpstream.run(GatewayHarness.services) { urls in
            try await GatewayHarness.run(urls: urls) { client, _ in
                for path in ["/api/users/../orders/1", "/api/users/%2e%2E/x", "/api/orders/./1"] {
                    let response = try await client.execute(uri: path, method: .get)
                    #expect(response.status == .badRequest, "\(path)")
                    #expect(response.headers[.contentType] == Problem.contentType, "\(path)")
                    #expect(response.headers[HTTPField.Name("X-Upstream")!] == nil, "\(path)")
                }
            }
        }
    }
}
