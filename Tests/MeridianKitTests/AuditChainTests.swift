import Foundation
@testable import MeridianKit
import MeridianTestSupport
import SQLKit
import Testing

/// The hash chain: how records link, and that every kind of tampering done directly in the database is found
/// by `AuditVerifier` at the record it concerns.
@Suite struct AuditChainTests {
    @Test(arguments: TestDatabase.engines)
    func recordsLinkIntoOneVerifiedChain(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine) { fixture in
            try await fixture.append(5)
            let records = try await fixture.records()
            #expect(records.map(\.record.sequence) == [1, 2, 3, 4, 5])
            #expect(records[0].record.previousHash == AuditRecord.genesisHash)
            for index in 1..<records.count {
                #expect(records[index].record.previousHash == records[index - 1].record.hash)
            }
            let first = records[0].record
            #expect(first.actorSub == "usr_alice" && first.actorClientID == "cli_web" && first.actorRoles == "customer")
            #expect(first.action == "order.update" && first.resourceType == "order" && first.resourceID == "ord_0")
            #expect(first.requestID == "req_1" && first.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
            let verification = try await fixture.verify()
            #expect(verification.isIntact)
            #expect(verification.records == 5)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func changeSetAndSourceAddressAreStoredEncrypted(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine) { fixture in
            let marker = "MARKER-\(UUID().uuidString)"
            var actor = AuditFixture.actor
            actor.sourceAddress = "198.51.100.\(marker)"
            try await fixture.database.transaction { sql in
                try await fixture.log.append(
                    AuditEvent(action: "user.update", resourceType: "user", resourceID: "usr_1",
                               changes: .object(["name": .string(marker)])),
                    actor: actor, on: sql)
            }
            let stored = try #require(try await fixture.records().first)
            #expect(!String(decoding: stored.sealedDetails, as: UTF8.self).contains(marker))
            let opened = try fixture.cipher.openBytes(
                stored.sealedDetails, table: "audit_log", column: "details", rowID: stored.record.id)
            let details = try AuditDetails(parsing: opened)
            #expect(details.changes == .object(["name": .string(marker)]))
            #expect(details.sourceAddress == "198.51.100.\(marker)")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aRolledBackMutationLeavesNoRecord(_ engine: DatabaseEngine) async throws {
        struct Abort: Error {}
        try await AuditFixture.with(engine) { fixture in
            await #expect(throws: Abort.self) {
                try await fixture.database.transaction { sql in
                    try await fixture.log.append(
                        AuditEvent(action: "order.create", resourceType: "order", resourceID: "ord_1"),
                        actor: AuditFixture.actor, on: sql)
                    throw Abort()
                }
            }
            #expect(try await fixture.records().isEmpty)
            try await fixture.append(1)
            #expect(try await fixture.records().map(\.record.sequence) == [1])
        }
    }

    @Test func actionsMustBeResourceDotVerb() async throws {
        for valid in ["order.create", "request.deny", "key.rotate", "token.issue", "user.role_change"] {
            #expect(AuditLog.isValidAction(valid), "\(valid)")
        }
        for invalid in ["", "order", "Order.create", "order.", ".create", "order create", "order.cr-eate"] {
            #expect(!AuditLog.isValidAction(invalid), "\(invalid)")
        }
        try await AuditFixture.with(.sqlite) { fixture in
            await #expect(throws: AuditLogError.self) {
                try await fixture.database.transaction { sql in
                    try await fixture.log.append(
                        AuditEvent(action: "Create", resourceType: "order", resourceID: nil),
                        actor: AuditFixture.actor, on: sql)
                }
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func concurrentAppendsKeepOneLinearChain(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine, checkpoints: AuditCheckpointPolicy(everyRecords: 7, everySeconds: 3600)) {
            fixture in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        try await fixture.database.transaction { sql in
                            try await fixture.log.append(
                                AuditEvent(action: "order.create", resourceType: "order", resourceID: "ord_\(index)"),
                                actor: AuditFixture.actor, on: sql)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let records = try await fixture.records()
            #expect(records.map(\.record.sequence) == Array(1...40))
            #expect(Set(records.compactMap(\.record.resourceID)).count == 40)
            let verification = try await fixture.verify()
            #expect(verification.firstBreak == nil)
            #expect(verification.records == 40)
            #expect(verification.checkpoints == 5)
            #expect(verification.lastSignedSequence == 35)
        }
    }

    // MARK: - Tampering

    @Test(arguments: TestDatabase.engines)
    func anEditedRecordIsNamed(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine) { fixture in
            try await fixture.append(5)
            let target = try await fixture.records()[2].record
            try await fixture.execute("UPDATE audit_log SET action = 'order.delete' WHERE sequence = 3")
            let found = try #require(try await fixture.verify().firstBreak)
            #expect(found.kind == .modified)
            #expect(found.sequence == 3)
            #expect(found.recordID == target.id)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func swappedDetailsAreNamed(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine) { fixture in
            try await fixture.append(5)
            try await fixture.execute(
                "UPDATE audit_log SET details = (SELECT details FROM audit_log WHERE sequence = 2) WHERE sequence = 4")
            let found = try #require(try await fixture.verify().firstBreak)
            #expect(found.kind == .modified)
            #expect(found.sequence == 4)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func anEditWithARecomputedHashIsNamed(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine) { fixture in
            try await fixture.append(5)
            // The attacker knows the algorithm (but not the keys): rewrites record 3 and its own hash.
            var record = try await fixture.records()[2]
            record.record.resourceID = "ord_someone_else"
            record.record.details = try fixture.cipher.openBytes(
                record.sealedDetails, table: "audit_log", column: "details", rowID: record.record.id)
            let rehashed = record.record.computedHash(service: AuditFixture.service)
            try await fixture.execute(
                "UPDATE audit_log SET resource_id = 'ord_someone_else', hash = '\(rehashed)' WHERE sequence = 3")
            let found = try #require(try await fixture.verify().firstBreak)
            #expect(found.kind == .modified)
            #expect(found.sequence == 3)
            #expect(found.recordID == record.record.id)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aDeletedRecordIsNamed(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine) { fixture in
            try await fixture.append(5)
            try await fixture.execute("DELETE FROM audit_log WHERE sequence = 3")
            let found = try #require(try await fixture.verify().firstBreak)
            #expect(found.kind == .deleted)
            #expect(found.sequence == 3)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aDeletedFirstRecordIsNamed(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine) { fixture in
            try await fixture.append(3)
            try await fixture.execute("DELETE FROM audit_log WHERE sequence = 1")
            let found = try #require(try await fixture.verify().firstBreak)
            #expect(found.kind == .deleted)
            #expect(found.sequence == 1)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func anInsertedRecordIsNamed(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine) { fixture in
            try await fixture.append(5)
            // Make room at position 3, then slip in a copy of record 2 linked after it.
            for sequence in [5, 4, 3] {
                try await fixture.execute("UPDATE audit_log SET sequence = \(sequence + 1) WHERE sequence = \(sequence)")
            }
            try await fixture.execute(
                """
                INSERT INTO audit_log (sequence, id, occurred_at, actor_sub, actor_client_id, actor_roles, action,
                    resource_type, resource_id, request_id, trace_id, outcome, details, previous_hash, hash)
                SELECT 3, 'aud_forged', occurred_at, actor_sub, actor_client_id, actor_roles, 'order.refund',
                    resource_type, resource_id, request_id, trace_id, outcome, details, hash, hash
                FROM audit_log WHERE sequence = 2
                """)
            let found = try #require(try await fixture.verify().firstBreak)
            #expect(found.kind == .inserted)
            #expect(found.sequence == 3)
            #expect(found.recordID == "aud_forged")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func reorderedRecordsAreNamed(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine) { fixture in
            try await fixture.append(5)
            let fourth = try await fixture.records()[3].record
            try await fixture.execute("UPDATE audit_log SET sequence = 1000 WHERE sequence = 3")
            try await fixture.execute("UPDATE audit_log SET sequence = 3 WHERE sequence = 4")
            try await fixture.execute("UPDATE audit_log SET sequence = 4 WHERE sequence = 1000")
            let found = try #require(try await fixture.verify().firstBreak)
            #expect(found.kind == .reordered)
            #expect(found.sequence == 3)
            #expect(found.recordID == fourth.id)
        }
    }

    // MARK: - Checkpoints

    @Test(arguments: TestDatabase.engines)
    func checkpointsSignTheHeadEveryNRecords(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine, checkpoints: AuditCheckpointPolicy(everyRecords: 2, everySeconds: 3600)) {
            fixture in
            try await fixture.append(5)
            let checkpoints = try await fixture.database.read { try await AuditCheckpoint.all($0) }
            #expect(checkpoints.map(\.sequence) == [2, 4])
            let records = try await fixture.records()
            #expect(checkpoints[1].headHash == records[3].record.hash)
            let verification = try await fixture.verify()
            #expect(verification.isIntact)
            #expect(verification.lastSignedSequence == 4)
            // A checkpoint on demand covers the unsigned tail, and only once.
            let signed = try await fixture.database.transaction { try await fixture.log.checkpoint(on: $0) }
            #expect(signed?.sequence == 5)
            #expect(try await fixture.database.transaction { try await fixture.log.checkpoint(on: $0) } == nil)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func checkpointsSignTheHeadAfterAnInterval(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine, checkpoints: AuditCheckpointPolicy(everyRecords: 1000, everySeconds: 60)) {
            fixture in
            try await fixture.append(1)
            #expect(try await fixture.database.read { try await AuditCheckpoint.all($0) }.isEmpty)
            fixture.clock.advance(61)
            try await fixture.append(1)
            #expect(try await fixture.database.read { try await AuditCheckpoint.all($0) }.map(\.sequence) == [2])
            try await fixture.append(1)
            #expect(try await fixture.database.read { try await AuditCheckpoint.all($0) }.map(\.sequence) == [2])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aTruncatedSignedTailIsNamed(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine, checkpoints: AuditCheckpointPolicy(everyRecords: 2, everySeconds: 3600)) {
            fixture in
            try await fixture.append(5)
            try await fixture.execute("DELETE FROM audit_log WHERE sequence >= 4")
            let found = try #require(try await fixture.verify().firstBreak)
            #expect(found.kind == .deleted)
            #expect(found.sequence == 4)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aRewrittenSignedTailIsNamed(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine, checkpoints: AuditCheckpointPolicy(everyRecords: 2, everySeconds: 3600)) {
            fixture in
            try await fixture.append(4)
            // The last record rewritten with a recomputed hash: nothing links to it, but a checkpoint signed it.
            var record = try await fixture.records()[3]
            record.record.outcome = "failure"
            record.record.details = try fixture.cipher.openBytes(
                record.sealedDetails, table: "audit_log", column: "details", rowID: record.record.id)
            let rehashed = record.record.computedHash(service: AuditFixture.service)
            try await fixture.execute("UPDATE audit_log SET outcome = 'failure', hash = '\(rehashed)' WHERE sequence = 4")
            let found = try #require(try await fixture.verify().firstBreak)
            #expect(found.kind == .modified)
            #expect(found.sequence == 4)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aForgedCheckpointSignatureIsNamed(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine, checkpoints: AuditCheckpointPolicy(everyRecords: 2, everySeconds: 3600)) {
            fixture in
            try await fixture.append(4)
            try await fixture.execute(
                "UPDATE audit_checkpoints SET signature = (SELECT signature FROM audit_checkpoints WHERE sequence = 2) WHERE sequence = 4")
            let found = try #require(try await fixture.verify().firstBreak)
            #expect(found.kind == .checkpoint)
            #expect(found.sequence == 4)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aSwappedPublicKeyIsNamed(_ engine: DatabaseEngine) async throws {
        try await AuditFixture.with(engine, checkpoints: AuditCheckpointPolicy(everyRecords: 2, everySeconds: 3600)) {
            fixture in
            try await fixture.append(4)
            // An attacker's own key pair: they re-sign a checkpoint and publish their public key in its place.
            let forger = Curve25519SigningKeyForTests()
            let checkpoint = try #require(try await fixture.database.read { try await AuditCheckpoint.all($0) }.first)
            let signature = try forger.sign(checkpoint.signedMessage(service: AuditFixture.service))
            try await fixture.execute(
                "UPDATE audit_signing_keys SET public_key = '\(forger.publicKeyBase64)'")
            try await fixture.execute(
                "UPDATE audit_checkpoints SET signature = '\(signature)' WHERE sequence = \(checkpoint.sequence)")
            let found = try #require(try await fixture.verify().firstBreak)
            #expect(found.kind == .checkpoint)
            #expect(found.sequence == 2)
            #expect(found.detail.contains("does not belong"))
        }
    }
}
