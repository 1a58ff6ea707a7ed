import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import Testing

@testable import Orders

@Suite struct CreateOrderTests {
    @Test(arguments: TestDatabase.engines)
    func createComputesTheTotalAndAnswersWithTheOrder(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let items = [
                item(sku: "SKU-1", quantity: 2, unitPrice: 1250),
                item(sku: "SKU-2", name: "Gadget", quantity: 3, unitPrice: 999),
            ]
            let response = try await h.client.createOrder(orderBody(userID: h.userID, items: items))
            #expect(response.status == .created)
            #expect(response.headers[.contentType] == "application/json")
            #expect(response.headers[.eTag] == "\"v1\"")
            let order = try object(response)
            let id = try #require(order["id"] as? String)
            #expect(Identifier.isWellFormed(id, prefix: "ord"))
            #expect(response.headers[.location] == "/api/orders/\(id)")
            #expect(order["total"] as? Int == 5497)
            #expect(order["status"] as? String == "pending")
            #expect(order["currency"] as? String == "EUR")
            #expect(order["user_id"] as? String == h.userID)
            #expect(order["version"] as? Int == 1)
            let firstItem = try #require((order["items"] as? [[String: Any]])?.first)
            #expect(firstItem["unit_price"] as? Int == 1250)
            #expect(firstItem["quantity"] as? Int == 2)
            let shipping = try #require(order["shipping_address"] as? [String: Any])
            #expect(shipping["postal_code"] as? String == "N1 9GU")
            #expect(shipping["country"] as? String == "GB")
            // Absent optional lines are present as null.
            #expect(shipping.keys.contains("line2") && shipping["line2"] is NSNull)
            #expect(shipping.keys.contains("region") && shipping["region"] is NSNull)
            let created = try #require(order["created_at"] as? String)
            #expect(Timestamp.parse(created) != nil && created.hasSuffix("Z"))

            // What was stored is what was answered.
            let fetched = try await h.client.get("/api/orders/\(id)")
            #expect(fetched.status == .ok)
            #expect(fetched.headers[.eTag] == "\"v1\"")
            #expect(try object(fetched)["total"] as? Int == 5497)
            #expect(fetched.body == response.body)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func boundaryValuesAreAccepted(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            var body = orderBody(
                userID: h.userID, currency: "JPY",
                items: Array(
                    repeating: item(
                        sku: String(repeating: "S", count: 64), name: String(repeating: "n", count: 200),
                        quantity: 10_000, unitPrice: 100_000_000), count: 100))
            var shipping = address()
            shipping["line2"] = String(repeating: "l", count: 200)
            shipping["region"] = String(repeating: "r", count: 100)
            shipping["postal_code"] = String(repeating: "9", count: 20)
            body["shipping_address"] = shipping
            let response = try await h.client.createOrder(body)
            #expect(response.status == .created)
            #expect(try object(response)["total"] as? Int == 100_000_000_000_000)
        }
    }

    /// One invalid member at a time; each must be reported under its own path, and nothing stored.
    struct InvalidCase {
        let name: String
        let field: String
        let change: (inout [String: Any]) -> Void

        static func item(_ name: String, index: Int = 0, _ key: String, _ value: Any?, field: String? = nil)
            -> InvalidCase
        {
            return InvalidCase(name: name, field: field ?? "items[\(index)].\(key)") { body in
                var items = body["items"] as! [[String: Any]]
                while items.count <= index { items.append(OrdersTests.item()) }
                items[index][key] = value
                body["items"] = items
            }
        }

        static func shipping(_ name: String, _ key: String, _ value: Any?) -> InvalidCase {
            return InvalidCase(name: name, field: "shipping_address.\(key)") { body in
                var shipping = body["shipping_address"] as! [String: Any]
                shipping[key] = value
                body["shipping_address"] = shipping
            }
        }

        static func top(_ name: String, _ key: String, _ value: Any?, field: String? = nil) -> InvalidCase {
            return InvalidCase(name: name, field: field ?? key) { body in body[key] = value }
        }
    }

    static var invalidCases: [InvalidCase] {
        [
            .top("user_id missing", "user_id", nil),
            .top("user_id a number", "user_id", 42),
            .top("user_id not a user id", "user_id", "bob"),
            .top("currency missing", "currency", nil),
            .top("currency unknown", "currency", "ABC"),
            .top("currency lower case", "currency", "eur"),
            .top("currency too long", "currency", "EURO"),
            .top("currency not money (XTS)", "currency", "XTS"),
            .top("currency withdrawn (HRK)", "currency", "HRK"),
            .top("currency a number", "currency", 978),
            .top("items missing", "items", nil),
            .top("items empty", "items", [Any]()),
            .top("items too many", "items", Array(repeating: OrdersTests.item(), count: 101)),
            .top("items an object", "items", OrdersTests.item()),
            .top("items element a string", "items", ["SKU-1"], field: "items[0]"),
            .item("quantity zero", index: 1, "quantity", 0),
            .item("quantity negative", "quantity", -1),
            .item("quantity above 10000", "quantity", 10_001),
            .item("quantity huge", "quantity", 1e30),
            .item("quantity beyond Int64", "quantity", Decimal(string: "9223372036854775808")!),
            .item("quantity fractional", "quantity", 2.5),
            .item("quantity a string", "quantity", "2"),
            .item("quantity missing", "quantity", nil),
            .item("unit_price zero", "unit_price", 0),
            .item("unit_price negative", "unit_price", -5),
            .item("unit_price above 100000000", index: 2, "unit_price", 100_000_001),
            .item("unit_price huge", "unit_price", 1e300),
            .item("unit_price a string", "unit_price", "12.50"),
            .item("sku empty", "sku", ""),
            .item("sku too long", "sku", String(repeating: "S", count: 65)),
            .item("sku a number", "sku", 1),
            .item("name missing", "name", nil),
            .item("name too long", "name", String(repeating: "n", count: 201)),
            .item("item with an unknown member", "color", "red"),
            .top("shipping_address missing", "shipping_address", nil),
            .top("shipping_address a string", "shipping_address", "1 Main St"),
            .shipping("country lower case", "country", "gb"),
            .shipping("country unassigned", "country", "XX"),
            .shipping("country reserved (UK)", "country", "UK"),
            .shipping("country alpha-3", "country", "GBR"),
            .shipping("country missing", "country", nil),
            .shipping("name missing", "name", nil),
            .shipping("name too long", "name", String(repeating: "n", count: 201)),
            .shipping("line1 empty", "line1", ""),
            .shipping("line1 a number", "line1", 1),
            .shipping("line2 too long", "line2", String(repeating: "l", count: 201)),
            .shipping("line2 a number", "line2", 2),
            .shipping("city empty", "city", ""),
            .shipping("city too long", "city", String(repeating: "c", count: 101)),
            .shipping("region too long", "region", String(repeating: "r", count: 101)),
            .shipping("postal_code too long", "postal_code", String(repeating: "9", count: 21)),
            .shipping("postal_code missing", "postal_code", nil),
            .shipping("address with an unknown member", "phone", "+44 20 0000 0000"),
            .top("unknown top-level member", "coupon", "FREE"),
            .top("client-computed total", "total", 1),
            .top("status chosen by the client", "status", "paid"),
        ]
    }

    @Test(arguments: TestDatabase.engines)
    func everyInvalidFieldIsA422NamingItsPath(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            for invalid in Self.invalidCases {
                var body = orderBody(userID: h.userID, items: [item(), item(), item()])
                invalid.change(&body)
                let response = try await h.client.createOrder(body)
                #expect(response.status == .unprocessableContent, "\(invalid.name)")
                #expect(response.headers[.contentType] == Problem.contentType, "\(invalid.name)")
                #expect(try errorFields(response) == [invalid.field], "\(invalid.name)")
            }
            // Nothing was stored, and the users service was never asked about an invalid request.
            #expect(try listed(try await h.client.get("/api/orders")).isEmpty)
            #expect(h.users.questions.isEmpty)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func everyBadFieldIsListedAtOnce(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            var body = orderBody(userID: h.userID, currency: "eur", items: [item(), item(quantity: 0, unitPrice: -1)])
            var shipping = address()
            shipping["country"] = "gb"
            shipping["phone"] = "0"
            body["shipping_address"] = shipping
            body["coupon"] = "x"
            let response = try await h.client.createOrder(body)
            #expect(response.status == .unprocessableContent)
            #expect(try problemType(response) == "https://meridian.dev/problems/validation")
            #expect(
                Set(try errorFields(response)) == [
                    "currency", "items[1].quantity", "items[1].unit_price", "shipping_address.country",
                    "shipping_address.phone", "coupon",
                ])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func malformedBodiesAre400(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            for (name, text) in [
                ("truncated", #"{"user_id": "#), ("not JSON", "user_id=1"), ("an array", "[]"), ("a string", #""x""#),
                ("empty", ""), ("trailing garbage", #"{"currency": "EUR"} x"#),
            ] {
                let response = try await h.client.execute(
                    uri: "/api/orders", method: .post, headers: jsonHeaders, body: ByteBuffer(string: text))
                #expect(response.status == .badRequest, "\(name)")
                #expect(try problemType(response) == "https://meridian.dev/problems/malformed-json", "\(name)")
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func oversizedBodyIs413AndNonJSONIs415(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            var body = orderBody(userID: h.userID)
            body["padding"] = String(repeating: "x", count: MeridianRequestContext.maxBodySize)
            let tooLarge = try await h.client.createOrder(body)
            #expect(tooLarge.status == .contentTooLarge)
            #expect(tooLarge.headers[.contentType] == Problem.contentType)

            let form = try await h.client.execute(
                uri: "/api/orders", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "user_id=1"))
            #expect(form.status == .unsupportedMediaType)
            #expect(try listed(try await h.client.get("/api/orders")).isEmpty)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func unknownUserIs422OnUserID(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let stranger = Identifier.make(prefix: "usr")
            let response = try await h.client.createOrder(orderBody(userID: stranger))
            #expect(response.status == .unprocessableContent)
            #expect(try errorFields(response) == ["user_id"])
            #expect(h.users.questions == [stranger])
            #expect(try listed(try await h.client.get("/api/orders")).isEmpty)
        }
    }

    /// The real HTTP user directory, pointed at a port where nothing listens.
    @Test(arguments: TestDatabase.engines)
    func unreachableUsersServiceIs503WithRetryAfter(_ engine: DatabaseEngine) async throws {
        let tokens = await TestTokens.make()
        let admin = try await tokens.token(.admin, subject: adminID)
        let service = try OrdersService(
            settings: orderSettings(engine, serviceURLs: ["users": "http://127.0.0.1:1"]), logger: quietLogger(),
            verifier: tokens.verifier)
        do {
            try await service.makeApplication().test(.router) { anonymous in
                let client = BearerClient(anonymous, token: admin)
                let response = try await client.createOrder(orderBody(userID: Identifier.make(prefix: "usr")))
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] != nil)
                #expect(response.headers[.contentType] == Problem.contentType)
                #expect(try listed(try await client.get("/api/orders")).isEmpty)
            }
        } catch {
            try? await TestDatabase.drop(service.settings.databaseURL)
            throw error
        }
        try await TestDatabase.drop(service.settings.databaseURL)
    }

    @Test func theUsersServiceURLIsRequiredWithoutADirectory() async {
        let verifier = await TestTokens.make().verifier
        #expect(throws: ServiceSettings.Missing.self) {
            try OrdersService(settings: orderSettings(.sqlite), logger: quietLogger(), verifier: verifier)
        }
    }

    /// Tokens are verified against the users service's keys unless a verifier is given.
    @Test func theUsersServiceURLIsRequiredWithoutAVerifier() {
        #expect(throws: ServiceSettings.Missing.self) {
            try OrdersService(
                settings: orderSettings(.sqlite), logger: quietLogger(), userDirectory: InMemoryUserDirectory([]))
        }
    }
}
