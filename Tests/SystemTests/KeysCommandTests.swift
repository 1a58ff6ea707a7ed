import Foundation
import Logging
@testable import MeridianKit
import MeridianTestSupport
import SQLKit
import Testing

/// `meridian keys status | rotate | rotate-master`, the binary this package builds, on the orders database a live
/// platform wrote: each key change shows in `keys status`, appends its audit record to the chain the service
/// started, and `meridian audit verify` still calls that chain intact afterwards (under the new master key).
@Suite struct KeysCommandTests {
    @Test(arguments: TestDatabase.engines)
    func rotationsAreVisibleAndAudited(_ engine: DatabaseEngine) async throws {
        let binary = AuditVerifyCommandTests.repository.appendingPathComponent(".build/debug/meridian").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build meridian first (swift build)")
        let databases = Platform.Databases.fresh(engine)
        // The service's own records come first, so the CLI's appends must link to a head it did not write.
        try await Platform.run(databases) { platform in
            let user = try await platform.admin.send(
                .POST, "/api/users",
                json: #"{"email": "keys@example.com", "name": "Key Holder", "password": "correct horse battery"}"#)
            let userID = try #require(user.json["id"] as? String)
            let order = try await platform.admin.send(
                .POST, "/api/orders",
                json: #"""
                    {"user_id": "\#(userID)", "currency": "EUR",
                     "items": [{"sku": "SKU-1", "name": "Widget", "quantity": 1, "unit_price": 1250}],
                     "shipping_address": {"name": "Ada Lovelace", "line1": "1 Main St", "city": "London",
                                          "postal_code": "N1 9GU", "country": "GB"}}
                    """#)
            #expect(order.status == 201)
        }
        let url = try #require(databases.urls["orders"])
        let oldMaster = databases.masterKey
        let newMaster = TestMasterKey.make()
        let newMasterFile = TestDatabase.temporaryDirectory() + "/new-master-\(UUID().uuidString).key"
        try MasterKeySource.writeKeyFile(newMaster, path: newMasterFile)
        defer { try? FileManager.default.removeItem(atPath: newMasterFile) }
        let cli = MeridianCLI(binary: binary, databaseURL: url)

        let before = try await cli.run(["keys", "status", "--service", "orders"], masterKey: oldMaster)
        #expect(before.status == 0, "\(before.output)")
        #expect(before.output.contains("orders: primary version 1,"), "\(before.output)")

        let rotated = try await cli.run(["keys", "rotate", "--service", "orders"], masterKey: oldMaster)
        #expect(rotated.status == 0, "\(rotated.output)")
        #expect(rotated.output.contains("orders: data key version 2 is primary"), "\(rotated.output)")

        let after = try await cli.run(["keys", "status", "--service", "orders"], masterKey: oldMaster)
        #expect(after.status == 0, "\(after.output)")
        #expect(after.output.contains("orders: primary version 2,"), "\(after.output)")
        #expect(after.output.contains("key v1: active") && after.output.contains("key v2: primary"), "\(after.output)")

        let rewrapped = try await cli.run(
            ["keys", "rotate-master", "--service", "orders", "--new-master-key-file", newMasterFile],
            masterKey: oldMaster)
        #expect(rewrapped.status == 0, "\(rewrapped.output)")
        // Data keys 1 and 2 and the blind-index seed.
        #expect(
            rewrapped.output.contains("orders: 3 keys re-wrapped under master key \(newMaster.fingerprint)"),
            "\(rewrapped.output)")

        let verified = try await cli.run(["audit", "verify", "--service", "orders"], masterKey: newMaster)
        #expect(verified.status == 0, "\(verified.output)")
        #expect(verified.output.hasPrefix("orders: intact"), "\(verified.output)")

        let records = try await Self.auditRecords(url, masterKey: newMaster)
        #expect(records.dropLast(2).contains { $0.action == "order.create" })
        let rotations = Array(records.suffix(2))
        #expect(rotations.map(\.action) == ["data_key.rotate", "master_key.rotate"])
        #expect(rotations.map(\.resourceID) == ["2", newMaster.fingerprint])
        #expect(rotations.allSatisfy { $0.actor == "system:orders" })
        #expect(
            rotations.first?.changes
                == .object(["previous_primary_version": .integer(1), "primary_version": .integer(2)]))
        #expect(
            rotations.last?.changes
                == .object([
                    "previous_fingerprint": .string(oldMaster.fingerprint),
                    "fingerprint": .string(newMaster.fingerprint), "rewrapped_keys": .integer(3),
                ]))
        for url in databases.urls.values { try? await TestDatabase.drop(url) }
    }

    struct Record: Sendable {
        let action: String
        let resourceType: String
        let resourceID: String?
        let actor: String?
        let changes: JSONValue?
    }

    /// The orders service's audit records, oldest first, change sets opened with the data keys `masterKey` wraps.
    static func auditRecords(_ url: String, masterKey: MasterKey) async throws -> [Record] {
        var logger = Logger(label: "keys-command-test")
        logger.logLevel = .critical
        let database = try openDatabase(url: url, schema: "orders", logger: logger)
        return try await withThrowingTaskGroup(of: [Record]?.self) { group in
            group.addTask { try await database.run(); return nil }
            defer { group.cancelAll() }
            let cipher = FieldCipher(service: "orders", database: database, masterKey: masterKey)
            try await cipher.load()
            let stored = try await database.read { sql in
                try await sql.select().columns(AuditRecord.columns).from(AuditRecord.table).orderBy("sequence").all()
                    .map(AuditRecord.decode)
            }
            return try stored.map { stored in
                let details = try cipher.openBytes(
                    stored.sealedDetails, table: AuditRecord.table, column: AuditRecord.detailsColumn,
                    rowID: stored.record.id)
                return Record(
                    action: stored.record.action, resourceType: stored.record.resourceType,
                    resourceID: stored.record.resourceID, actor: stored.record.actorSub,
                    changes: try AuditDetails(parsing: details).changes)
            }
        }
    }
}
