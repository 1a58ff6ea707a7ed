import Foundation
@testable import MeridianKit
import MeridianTestSupport
import Testing

@Suite struct CryptoFieldCipherTests {
    @Test(arguments: TestDatabase.engines)
    func valuesRoundTripAndNeverContainThePlaintext(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            let cipher = try await fixture.cipher()
            for value in ["alice@example.com", "", "Zoë ✓ 名前", String(repeating: "x", count: 10_000)] {
                let sealed = try cipher.seal(value, table: "users", column: "email", rowID: "usr_1")
                #expect(try cipher.open(sealed, table: "users", column: "email", rowID: "usr_1") == value)
                #expect(sealed.count == 4 + 12 + value.utf8.count + 16)
                if !value.isEmpty { #expect(sealed.range(of: Data(value.utf8)) == nil) }
            }
            let bytes = Data((0..<255).map { UInt8($0) })
            let sealed = try cipher.sealBytes(bytes, table: "t", column: "c", rowID: "r")
            #expect(try cipher.openBytes(sealed, table: "t", column: "c", rowID: "r") == bytes)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aChangeToAnyByteIsDetected(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            let cipher = try await fixture.cipher()
            let sealed = try cipher.seal("12 Main Street", table: "orders", column: "shipping_address", rowID: "ord_1")
            // A byte of the version, the nonce, the ciphertext and the tag.
            for index in [3, 4, 16, 20, sealed.count - 1] {
                var tampered = sealed
                tampered[tampered.startIndex + index] ^= 0x01
                #expect(throws: FieldCipherError.self) {
                    try cipher.open(tampered, table: "orders", column: "shipping_address", rowID: "ord_1")
                }
            }
            #expect(throws: FieldCipherError.malformed) {
                try cipher.open(sealed.prefix(20), table: "orders", column: "shipping_address", rowID: "ord_1")
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aCiphertextCopiedElsewhereFailsToOpen(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            let cipher = try await fixture.cipher()
            let sealed = try cipher.seal("alice@example.com", table: "users", column: "email", rowID: "usr_1")
            let elsewhere: [(String, String, String)] = [
                ("users", "email", "usr_2"),  // another row
                ("users", "name", "usr_1"),  // another column
                ("oauth_clients", "email", "usr_1"),  // another table
                ("users|email", "", "usr_1"),  // the same characters split differently
            ]
            for (table, column, rowID) in elsewhere {
                #expect(throws: FieldCipherError.authenticationFailed(table: table, column: column, rowID: rowID)) {
                    try cipher.open(sealed, table: table, column: column, rowID: rowID)
                }
            }
            // Wrapped keys are bound to their service: another service's cipher cannot even load them.
            await #expect(throws: FieldCipherError.wrongMasterKey(service: "other")) {
                try await fixture.cipher(service: "other")
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func theWrongMasterKeyOpensNothing(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            _ = try await fixture.cipher()
            let wrong = FieldCipher(
                service: CryptoFixture.service, database: fixture.database, masterKey: TestMasterKey.make())
            await #expect(throws: FieldCipherError.wrongMasterKey(service: CryptoFixture.service)) {
                try await wrong.load()
            }
        }
    }

    @Test func nothingIsSealedOrOpenedBeforeTheKeysAreLoaded() throws {
        let database = try openDatabase(
            url: TestDatabase.url(.sqlite), schema: "kit", logger: .init(label: "t"))
        let cipher = FieldCipher(service: "s", database: database, masterKey: TestMasterKey.make())
        #expect(throws: FieldCipherError.notLoaded(service: "s")) { try cipher.seal("x", table: "t", column: "c", rowID: "r") }
        #expect(cipher.primaryVersion == nil)
    }

    @Test(arguments: TestDatabase.engines)
    func everyValueGetsAFreshNonce(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            let cipher = try await fixture.cipher()
            var nonces: Set<Data> = []
            var ciphertexts: Set<Data> = []
            for _ in 0..<2000 {
                let sealed = try cipher.seal("same value", table: "t", column: "c", rowID: "r")
                nonces.insert(sealed.subdata(in: 4..<16))
                ciphertexts.insert(sealed)
            }
            #expect(nonces.count == 2000)
            #expect(ciphertexts.count == 2000)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func theKeyVersionIsInFront(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            let cipher = try await fixture.cipher()
            let before = try cipher.seal("v", table: "t", column: "c", rowID: "r")
            #expect(Array(before.prefix(4)) == [0, 0, 0, 1])
            let version = try await KeyAdministration(
                service: CryptoFixture.service, database: fixture.database, masterKey: fixture.masterKey
            ).rotate()
            #expect(version == 2)
            try await cipher.load()
            let after = try cipher.seal("v", table: "t", column: "c", rowID: "r")
            #expect(try FieldCipher.version(of: after) == 2)
            // Values sealed under the previous version still open.
            #expect(try cipher.open(before, table: "t", column: "c", rowID: "r") == "v")
            // The version is authenticated: relabelling a value as another version fails.
            var relabelled = before
            relabelled[relabelled.startIndex + 3] = 2
            #expect(throws: FieldCipherError.self) { try cipher.open(relabelled, table: "t", column: "c", rowID: "r") }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func blindIndexesAreStablePerValueAndDifferPerColumn(_ engine: DatabaseEngine) async throws {
        try await CryptoFixture.with(engine) { fixture in
            let cipher = try await fixture.cipher()
            let index = cipher.blindIndex("alice@example.com", table: "users", column: "email_index")
            #expect(index.count == 64)
            #expect(index == cipher.blindIndex("alice@example.com", table: "users", column: "email_index"))
            #expect(index != cipher.blindIndex("bob@example.com", table: "users", column: "email_index"))
            #expect(index != cipher.blindIndex("alice@example.com", table: "users", column: "other"))
            // A second process with the same master key derives the same index (lookups work across replicas).
            let replica = try await fixture.cipher()
            #expect(index == replica.blindIndex("alice@example.com", table: "users", column: "email_index"))
        }
    }

    @Test func masterKeysLoadFromBase64AndFiles() throws {
        let key = TestMasterKey.make()
        #expect(try MasterKey(base64: key.base64).fingerprint == key.fingerprint)
        #expect(throws: MasterKey.Invalid.self) { try MasterKey(bytes: Data(count: 16)) }
        #expect(throws: MasterKey.Invalid.self) { try MasterKey(base64: "not base64!") }
        let directory = TestDatabase.temporaryDirectory() + "/mk-\(UUID().uuidString)"
        let generated = try MasterKeySource.resolve(
            base64: nil, file: nil, developmentDirectory: directory, logger: .init(label: "t"))
        let path = directory + "/" + MasterKeySource.developmentFileName
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // The next start reads the same key instead of generating another.
        let again = try MasterKeySource.resolve(
            base64: nil, file: nil, developmentDirectory: directory, logger: .init(label: "t"))
        #expect(again.fingerprint == generated.fingerprint)
        #expect(try MasterKeySource.resolve(base64: nil, file: path, developmentDirectory: nil, logger: .init(label: "t"))
            .fingerprint == generated.fingerprint)
        // Outside serve, no key is a configuration error rather than a silently generated key.
        #expect(throws: MasterKeySource.Missing.self) {
            try MasterKeySource.resolve(base64: nil, file: nil, developmentDirectory: nil, logger: .init(label: "t"))
        }
    }
}
