import Foundation
@testable import MeridianKit
import MeridianTestSupport
import SQLKit
import Testing

/// Key changes are state mutations: each appends exactly one audit record, in the transaction that makes it,
/// and the chain stays intact across them.
@Suite struct CryptoKeyAuditTests {
    /// The records every service's log begins with: its first start stored the first data key and the
    /// blind-index seed.
    static let firstStart = ["data_key.create", "index_key.create"]

    @Test(arguments: TestDatabase.engines)
    func theFirstStartRecordsTheKeysItCreatesOnce(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            // Replicas starting together: only the one whose insert stored a key records it.
            let ciphers = try await withThrowingTaskGroup(of: FieldCipher.self) { group in
                for _ in 0..<3 { group.addTask { try await fixture.cipher() } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let cipher = ciphers[0]
            try await cipher.load()
            let records = try await fixture.auditRecords(cipher)
            #expect(records.map(\.record.action) == Self.firstStart)
            #expect(records.map(\.record.resourceType) == ["data_key", "index_key"])
            #expect(records.map(\.record.resourceID) == ["1", "0"])
            #expect(records.allSatisfy { $0.record.actorSub == "system:\(CryptoFixture.service)" })
            #expect(
                records.map(\.changes)
                    == [1, 0].map { .object(["version": .integer($0), "state": .string("primary")]) })
            #expect(try await fixture.verifyAudit(cipher).isIntact)
        }
    }

    /// The keys and their records commit together: a first start whose record cannot be written stores no
    /// key, and its cipher seals nothing.
    @Test(arguments: TestDatabase.engines)
    func aFirstStartThatCannotRecordStoresNoKey(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            try await fixture.refuseInserts(into: AuditRecord.table, engine)
            let cipher = FieldCipher(service: CryptoFixture.service, database: fixture.database, masterKey: fixture.masterKey)
            await #expect(throws: (any Error).self) { try await cipher.load() }
            #expect(try await fixture.database.read { try await DataKeyStore.rows($0) }.isEmpty)
            #expect(cipher.primaryVersion == nil)
            #expect(throws: FieldCipherError.notLoaded(service: CryptoFixture.service)) {
                try cipher.seal("x", table: "vault", column: "secret", rowID: "r")
            }
        }
    }
    @Test(arguments: TestDatabase.engines)
    func dataKeyRotationAppendsOneRecord(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            let cipher = try await fixture.cipher()
            let version = try await fixture.administration().rotate()
            #expect(version == 2)
            let records = try await fixture.auditRecords(cipher)
            try #require(records.map(\.record.action) == Self.firstStart + ["data_key.rotate"])
            let (record, changes) = records[2]
            #expect(record.action == "data_key.rotate")
            #expect(record.resourceType == "data_key")
            #expect(record.resourceID == "2")
            #expect(record.outcome == "success")
            #expect(record.actorSub == "system:\(CryptoFixture.service)")
            #expect(changes == .object(["previous_primary_version": .integer(1), "primary_version": .integer(2)]))
            #expect(try await fixture.verifyAudit(cipher).isIntact)
        }
    }

    /// The record and the key change commit together: refusing either write (a trigger the test adds) leaves
    /// neither.
    @Test(arguments: TestDatabase.engines, ["meridian_data_keys", "audit_log"])
    func aRotationThatFailsLeavesNoRecordAndNoKey(_ engine: DatabaseEngine, refused table: String) async throws {
        try await CryptoFixture.with(engine) { fixture in
            let cipher = try await fixture.cipher()
            try await fixture.refuseInserts(into: table, engine)
            await #expect(throws: (any Error).self) { try await fixture.administration().rotate() }
            #expect(try await fixture.keyStates() == [1: "primary"])
            #expect(try await fixture.auditRecords(cipher).map(\.record.action) == Self.firstStart)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func masterRotationAppendsOneRecordWithoutKeyMaterial(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            _ = try await fixture.cipher()
            let newMaster = TestMasterKey.make()
            #expect(try await fixture.administration().rotateMaster(to: newMaster) == 2)
            // Only the new master key opens the data keys now, and with them the record.
            let reopened = try await fixture.cipher(newMaster)
            let records = try await fixture.auditRecords(reopened)
            try #require(records.map(\.record.action) == Self.firstStart + ["master_key.rotate"])
            let (record, changes) = records[2]
            #expect(record.action == "master_key.rotate")
            #expect(record.resourceType == "master_key")
            #expect(record.resourceID == newMaster.fingerprint)
            #expect(record.actorSub == "system:\(CryptoFixture.service)")
            #expect(
                changes
                    == .object([
                        "previous_fingerprint": .string(fixture.masterKey.fingerprint),
                        "fingerprint": .string(newMaster.fingerprint), "rewrapped_keys": .integer(2),
                    ]))
            let plaintext = String(decoding: record.details, as: UTF8.self)
            #expect(!plaintext.contains(fixture.masterKey.base64) && !plaintext.contains(newMaster.base64))
            #expect(try await fixture.verifyAudit(reopened).isIntact)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func retiringAnOldKeyAppendsOneRecord(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            let cipher = try await fixture.cipher()
            for n in 0..<5 { try await fixture.put("row_\(n)", "value \(n)", with: cipher) }
            _ = try await fixture.administration().rotate()
            try await cipher.load()
            let job = fixture.rotation(cipher)
            try await job.runToCompletion()
            #expect(try await fixture.keyStates() == [1: "retired", 2: "primary"])
            // Nothing more to retire: another pass records nothing.
            try await job.runToCompletion()
            let records = try await fixture.auditRecords(cipher)
            #expect(records.map(\.record.action) == Self.firstStart + ["data_key.rotate", "data_key.retire"])
            let (retire, changes) = try #require(records.last)
            #expect(retire.resourceType == "data_key")
            #expect(retire.resourceID == "1")
            #expect(retire.actorSub == "system:\(CryptoFixture.service)")
            #expect(changes == .object(["state": .string("retired"), "primary_version": .integer(2)]))
            #expect(try await fixture.verifyAudit(cipher).isIntact)
        }
    }
}

extension CryptoFixture {
    func administration() -> KeyAdministration {
        KeyAdministration(service: CryptoFixture.service, database: database, masterKey: masterKey)
    }

    /// The audit records, oldest first, with their details opened by `cipher` and their change sets.
    func auditRecords(_ cipher: FieldCipher) async throws -> [(record: AuditRecord, changes: JSONValue?)] {
        let stored = try await database.read { sql in
            try await sql.select().columns(AuditRecord.columns).from(AuditRecord.table).orderBy("sequence").all()
                .map(AuditRecord.decode)
        }
        return try stored.map { stored in
            var record = stored.record
            record.details = try cipher.openBytes(
                stored.sealedDetails, table: AuditRecord.table, column: AuditRecord.detailsColumn, rowID: record.id)
            return (record, try AuditDetails(parsing: record.details).changes)
        }
    }

    func verifyAudit(_ cipher: FieldCipher) async throws -> AuditVerification {
        try await AuditVerifier(service: CryptoFixture.service, database: database, cipher: cipher).verify()
    }

    /// Makes every insert into `table` fail, as a full disk or a lost connection would mid-transaction.
    func refuseInserts(into table: String, _ engine: DatabaseEngine) async throws {
        let statements =
            switch engine {
            case .sqlite:
                ["CREATE TRIGGER refuse_\(table) BEFORE INSERT ON \(table) BEGIN SELECT RAISE(ABORT, 'refused'); END"]
            case .postgres:
                [
                    """
                    CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql
                    AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$
                    """,
                    """
                    CREATE TRIGGER refuse_\(table) BEFORE INSERT ON \(table)
                    FOR EACH ROW EXECUTE FUNCTION refuse_insert()
                    """,
                ]
            }
        try await database.transaction { sql in
            for statement in statements { try await sql.raw(SQLQueryString(statement)).run() }
        }
    }
}
