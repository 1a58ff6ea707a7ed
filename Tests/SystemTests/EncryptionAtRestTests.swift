import Foundation
import MeridianKit
import MeridianTestSupport
import NIOHTTP1
import Testing

/// Writes marker strings through the gateway into every encrypted field, then reads the raw storage (the
/// SQLite files with their WAL, or a `pg_dump` of each service's schema): no marker may appear, and every value
/// must still read back through the API.
///
/// Table-driven: a service that encrypts more fields adds a `Probe` to `probes`.
@Suite(.serialized) struct EncryptionAtRestTests {
    /// One write through the API. It returns the strings that must not appear at rest, after checking that the
    /// API gives them back.
    struct Probe: Sendable {
        let field: String
        let write: @Sendable (Platform, _ marker: String) async throws -> [String]
    }

    static let probes: [Probe] = [
        Probe(field: "users.email, users.name") { platform, marker in
            let email = "\(marker.lowercased())@example.com"
            let created = try await platform.admin.send(
                .POST, "/api/users",
                json: #"{"email": "\#(email)", "name": "\#(marker) Name", "password": "correct horse battery"}"#)
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? String)
            let read = try await platform.admin.send(.GET, "/api/users/\(id)")
            #expect(read.json["email"] as? String == email)
            #expect(read.json["name"] as? String == "\(marker) Name")
            // The blind index still finds the account by its address, in any case.
            let found = try await platform.admin.send(.GET, "/api/users?email=\(email.uppercased())")
            #expect((found.json["data"] as? [[String: Any]])?.first?["id"] as? String == id)
            return [email, "\(marker) Name"]
        },
        Probe(field: "oauth_clients.name, oauth_clients.redirect_uris") { platform, marker in
            let uri = "https://\(marker.lowercased()).example.com/callback"
            let created = try await platform.admin.send(
                .POST, "/api/clients",
                json: #"{"name": "\#(marker) App", "type": "public", "redirect_uris": ["\#(uri)"]}"#)
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? String)
            let listed = try await platform.admin.send(.GET, "/api/clients?limit=200")
            let read = (listed.json["data"] as? [[String: Any]])?.first { $0["id"] as? String == id }
            #expect(read?["name"] as? String == "\(marker) App")
            #expect(read?["redirect_uris"] as? [String] == [uri])
            return ["\(marker) App", uri]
        },
        Probe(field: "orders.items, orders.shipping_address, payment_attempts.*") { platform, marker in
            let user = try await platform.admin.send(
                .POST, "/api/users",
                json: #"{"email": "buyer-\#(marker.lowercased())@example.com", "name": "Buyer", "password": "correct horse battery"}"#)
            let userID = try #require(user.json["id"] as? String)
            let created = try await platform.admin.send(
                .POST, "/api/orders",
                json: #"""
                    {"user_id": "\#(userID)", "currency": "EUR",
                     "items": [{"sku": "SKU-\#(marker)", "name": "\#(marker) Widget", "quantity": 2, "unit_price": 1250}],
                     "shipping_address": {"name": "\#(marker) Recipient", "line1": "\#(marker) Street 1",
                       "city": "London", "postal_code": "N1 9GU", "country": "GB"}}
                    """#)
            #expect(created.status == 201)
            let orderID = try #require(created.json["id"] as? String)
            let declined = try await platform.admin.send(
                .POST, "/api/orders/\(orderID)/payments", json: #"{"payment_method": "tok_chargeDeclined"}"#)
            #expect(declined.status == 402 || declined.status == 422 || declined.status == 409)
            let paid = try await platform.admin.send(
                .POST, "/api/orders/\(orderID)/payments", json: #"{"payment_method": "tok_visa"}"#)
            #expect(paid.status == 201 || paid.status == 200)
            let order = try await platform.admin.send(.GET, "/api/orders/\(orderID)")
            let items = order.json["items"] as? [[String: Any]]
            #expect(items?.first?["name"] as? String == "\(marker) Widget")
            #expect((order.json["shipping_address"] as? [String: Any])?["line1"] as? String == "\(marker) Street 1")
            let attempts = try await platform.admin.send(.GET, "/api/orders/\(orderID)/payments")
            let data = attempts.json["data"] as? [[String: Any]] ?? []
            let reference = try #require(data.compactMap { $0["provider_reference"] as? String }.first)
            #expect(data.contains { $0["payment_method"] as? String == "tok_chargeDeclined" })
            return [
                "SKU-\(marker)", "\(marker) Widget", "\(marker) Recipient", "\(marker) Street 1", reference,
                "tok_chargeDeclined",
            ]
        },
        Probe(field: "analytics_events.properties") { platform, marker in
            let user = "usr_probe_\(marker.lowercased())"
            let sent = try await platform.admin.send(
                .POST, "/api/analytics/events",
                json: #"{"events": [{"id": "\#(UUID().uuidString)", "name": "probe", "user_id": "\#(user)", "properties": {"note": "\#(marker) Note"}}]}"#)
            #expect(sent.status == 200)
            #expect(sent.json["accepted"] as? Int == 1)
            let read = try await platform.admin.send(.GET, "/api/analytics/events?user_id=\(user)")
            let properties = (read.json["data"] as? [[String: Any]])?.first?["properties"] as? [String: Any]
            #expect(properties?["note"] as? String == "\(marker) Note")
            return ["\(marker) Note"]
        },
    ]

    @Test(arguments: TestDatabase.engines)
    func noMarkerIsStoredInPlaintext(_ engine: DatabaseEngine) async throws {
        let databases = Platform.Databases.fresh(engine)
        let secrets = try await Platform.run(databases) { platform in
            var secrets: [String] = []
            for (index, probe) in Self.probes.enumerated() {
                let marker = "Mrk\(index)x" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12)
                let written = try await probe.write(platform, marker)
                #expect(!written.isEmpty, "probe \(probe.field) wrote nothing to look for")
                secrets += written
            }
            return secrets
        }
        // After a graceful stop, so that everything acknowledged is on disk.
        let dumps = try Self.rawStorage(databases, engine: engine)
        #expect(!dumps.isEmpty)
        for (name, bytes) in dumps {
            for secret in secrets {
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(name) holds '\(secret)' in plaintext")
            }
        }
    }

    /// Every byte the services stored: the SQLite database files and their WAL, or a `pg_dump` per schema.
    static func rawStorage(_ databases: Platform.Databases, engine: DatabaseEngine) throws -> [(String, Data)] {
        var dumps: [(String, Data)] = []
        for (service, url) in databases.urls.sorted(by: { $0.key < $1.key }) {
            switch engine {
            case .sqlite:
                for suffix in ["", "-wal"] {
                    if let data = FileManager.default.contents(atPath: url + suffix) { dumps.append((service + suffix, data)) }
                }
            case .postgres:
                dumps.append((service, try pgDump(url)))
            }
        }
        return dumps
    }

    static func pgDump(_ url: String) throws -> Data {
        guard let components = URLComponents(string: url),
            let schema = components.queryItems?.first(where: { $0.name == "schema" })?.value
        else { throw CocoaError(.fileReadUnknown) }
        var base = components
        base.queryItems = components.queryItems?.filter { $0.name != "schema" }
        if base.queryItems?.isEmpty == true { base.queryItems = nil }
        // Into a file, not a pipe: a server another suite starts at the same moment can inherit the pipe's write
        // end and hold it open, and reading to end-of-file would then wait for that server to exit.
        let dump = FileManager.default.temporaryDirectory.appendingPathComponent("meridian-dump-\(UUID().uuidString).sql")
        defer { try? FileManager.default.removeItem(at: dump) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["pg_dump", "--data-only", "--schema=\(schema)", "--file=\(dump.path)", base.string ?? url]
        process.standardOutput = FileHandle.nullDevice
        try ProcessLaunch.run(process)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return try Data(contentsOf: dump)
    }
}
