import Foundation
@testable import MeridianKit
import MeridianTestSupport
import SQLKit
import Testing

@Suite struct CryptoKeyRotationTests {
    static func id(_ n: Int) -> String { String(format: "row_%05d", n) }

    @Test(arguments: TestDatabase.engines)
    func rotationWhileWritesContinueEndsWithEveryValueOnTheNewKey(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            let cipher = try await fixture.cipher()
            // A second replica that keeps sealing under the old key until it reloads, as a running process would.
            let staleReplica = try await fixture.cipher()
            var expected: [String: String] = [:]
            for n in 0..<300 {
                try await fixture.put(Self.id(n), "value \(n)", with: cipher)
                expected[Self.id(n)] = "value \(n)"
            }
            _ = try await KeyAdministration(
                service: CryptoFixture.service, database: fixture.database, masterKey: fixture.masterKey
            ).rotate()
            try await cipher.load()
            // Within the grace period: the stale replica may still seal under version 1, so it must not be retired.
            let job = fixture.rotation(cipher, batchSize: 25, grace: .seconds(3600))
            let writes = try await withThrowingTaskGroup(of: [String: String].self) { group in
                group.addTask {
                    var written: [String: String] = [:]
                    for n in 0..<150 {
                        // New rows, rewrites of rows the job has or has not reached yet, from both replicas.
                        let id = n % 3 == 0 ? Self.id(300 + n) : Self.id((n * 7) % 300)
                        let value = "rewritten \(n)"
                        try await fixture.put(id, value, with: n % 2 == 0 ? cipher : staleReplica)
                        written[id] = value
                    }
                    return written
                }
                group.addTask {
                    for _ in 0..<20 { _ = try await job.step() }
                    return [:]
                }
                var all: [String: String] = [:]
                for try await written in group { all.merge(written) { $1 } }
                return all
            }
            expected.merge(writes) { $1 }
            // Every replica has reloaded by now; the grace period is over.
            let final = fixture.rotation(cipher, batchSize: 25)
            try await final.runToCompletion()

            let stored = try await fixture.sealedValues()
            #expect(stored.count == expected.count)
            for (id, sealed) in stored {
                #expect(try FieldCipher.version(of: sealed) == 2)
                #expect(try cipher.open(sealed, table: "vault", column: "secret", rowID: id) == expected[id])
            }
            // Nothing uses version 1 any more, so it is retired and its material erased.
            #expect(try await fixture.keyStates() == [1: "retired", 2: "primary"])
            let status = try await final.status()
            #expect(status.columns.map(\.remaining) == [0])
            let gauges = String(decoding: final.metrics.exposition(), as: UTF8.self)
            #expect(gauges.contains("meridian_encryption_rows_remaining 0"))
            #expect(gauges.contains("meridian_encryption_primary_key_version 2"))
            let counters = String(decoding: job.metrics.exposition(), as: UTF8.self)
            #expect(counters.contains("meridian_encryption_reencrypted_rows_total{"))
        }
    }

    @Test(arguments: TestDatabase.engines)
    func anInterruptedJobResumesWhereItStopped(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            let cipher = try await fixture.cipher()
            for n in 0..<50 { try await fixture.put(Self.id(n), "value \(n)", with: cipher) }
            _ = try await KeyAdministration(
                service: CryptoFixture.service, database: fixture.database, masterKey: fixture.masterKey
            ).rotate()
            try await cipher.load()
            let first = fixture.rotation(cipher, batchSize: 10)
            #expect(try await first.step())
            #expect(try await first.step())
            // The process dies here. A new one, with keys and a job of its own, picks up the recorded progress.
            let restarted = fixture.rotation(try await fixture.cipher(), batchSize: 10)
            #expect(try await restarted.step())
            let progress = try await fixture.database.read { sql in
                try await KeyRotationProgress.load(CryptoFixture.column, sql)
            }
            #expect(progress?.afterID == Self.id(29))
            #expect(progress?.rowsDone == 30)
            #expect(progress?.targetVersion == 2)
            try await restarted.runToCompletion()
            let stored = try await fixture.sealedValues()
            #expect(try stored.values.allSatisfy { try FieldCipher.version(of: $0) == 2 })
            #expect(try await restarted.status().columns.first?.reencrypted == 50)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func anOldKeyIsKeptWhileAnyValueUsesIt(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            let cipher = try await fixture.cipher()
            for n in 0..<5 { try await fixture.put(Self.id(n), "value \(n)", with: cipher) }
            _ = try await KeyAdministration(
                service: CryptoFixture.service, database: fixture.database, masterKey: fixture.masterKey
            ).rotate()
            try await cipher.load()
            try await fixture.rotation(cipher).retireUnused(primary: 2)
            #expect(try await fixture.keyStates() == [1: "active", 2: "primary"])
            // Re-encrypted, but within the grace period other replicas may still seal under version 1.
            let patient = fixture.rotation(cipher, grace: .seconds(3600))
            try await patient.runToCompletion()
            #expect(try await fixture.keyStates() == [1: "active", 2: "primary"])
            try await fixture.rotation(cipher).runToCompletion()
            #expect(try await fixture.keyStates() == [1: "retired", 2: "primary"])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func masterRotationRewrapsKeysOnly(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            let cipher = try await fixture.cipher()
            for n in 0..<5 { try await fixture.put(Self.id(n), "value \(n)", with: cipher) }
            let index = cipher.blindIndex("alice@example.com", table: "users", column: "email_index")
            let before = try await fixture.sealedValues()
            let newMaster = TestMasterKey.make()
            let count = try await KeyAdministration(
                service: CryptoFixture.service, database: fixture.database, masterKey: fixture.masterKey
            ).rotateMaster(to: newMaster)
            #expect(count == 2)  // the data key and the blind-index seed
            #expect(try await fixture.sealedValues() == before)
            await #expect(throws: FieldCipherError.wrongMasterKey(service: CryptoFixture.service)) {
                try await fixture.cipher(fixture.masterKey)
            }
            let reloaded = try await fixture.cipher(newMaster)
            for (id, sealed) in before {
                #expect(try reloaded.open(sealed, table: "vault", column: "secret", rowID: id).hasPrefix("value "))
            }
            #expect(reloaded.blindIndex("alice@example.com", table: "users", column: "email_index") == index)
        }
    }
}
