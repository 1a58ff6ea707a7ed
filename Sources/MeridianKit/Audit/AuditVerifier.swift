import Crypto
import Foundation
import SQLKit

/// The first place where a service's audit chain is not what was appended.
public struct AuditChainBreak: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The record's content (or its sealed details) no longer matches its hash, or it was rewritten with a
        /// recomputed hash that the next record or a checkpoint contradicts.
        case modified
        /// One or more records are missing.
        case deleted
        /// A record that was never appended sits in the chain.
        case inserted
        /// A record sits at another position than the one it was appended at.
        case reordered
        /// A checkpoint's signature or key does not verify.
        case checkpoint
    }

    public let kind: Kind
    /// The chain position of the broken (or first missing) record.
    public let sequence: Int64
    /// The record's id, when a record (rather than a gap) is to blame.
    public let recordID: String?
    public let detail: String

    public var description: String {
        let record = recordID.map { "record \(sequence) (\($0))" } ?? "record \(sequence)"
        return "\(kind.rawValue): \(record): \(detail)"
    }
}

/// What `AuditVerifier` found.
public struct AuditVerification: Sendable {
    public let service: String
    public let records: Int
    public let checkpoints: Int
    /// The sequence number of the newest checkpoint with a valid signature, if any; records after it are linked
    /// but not yet signed.
    public let lastSignedSequence: Int64?
    public let firstBreak: AuditChainBreak?

    public var isIntact: Bool { firstBreak == nil }
}

/// Walks a service's audit chain from the first record and names the first record that was modified, deleted,
/// inserted or reordered, then checks every checkpoint's signature and that the records it signed are still
/// there unchanged. Reads in batches, so a long chain does not have to fit in memory.
public struct AuditVerifier: Sendable {
    public let service: String
    public let database: any Database
    /// Loaded: the verifier opens every record's sealed details.
    public let cipher: FieldCipher
    let batchSize: Int

    public init(service: String, database: any Database, cipher: FieldCipher, batchSize: Int = 500) {
        self.service = service
        self.database = database
        self.cipher = cipher
        self.batchSize = batchSize
    }

    public func verify() async throws -> AuditVerification {
        // Where each stored hash sits: a link to a later position means reordering, to a missing hash deletion.
        let positions = try await database.read { sql in
            var positions: [String: Int64] = [:]
            for row in try await sql.select().columns("sequence", "hash").from(AuditRecord.table).all() {
                positions[try row.decode(column: "hash", as: String.self)] = try row.decode(column: "sequence", as: Int64.self)
            }
            return positions
        }
        var stream = RecordStream(database: database, batchSize: batchSize)
        var walk = ChainWalk(service: service, cipher: cipher, positions: positions)
        var current = try await stream.next()
        var chainBreak: AuditChainBreak?
        while let record = current {
            let following = try await stream.next()
            if let found = walk.check(record, following: following) {
                chainBreak = found
                break
            }
            current = following
        }
        let (checkpointCount, lastSigned, checkpointBreak) = try await verifyCheckpoints(positions: positions)
        let firstBreak = [chainBreak, checkpointBreak].compactMap { $0 }.min { $0.sequence < $1.sequence }
        return AuditVerification(
            service: service, records: positions.count, checkpoints: checkpointCount, lastSignedSequence: lastSigned,
            firstBreak: firstBreak)
    }

    /// Every checkpoint must carry a valid signature by a key whose halves match, and the record it signed must
    /// still be at its position with the signed hash (which catches a rewritten or truncated tail).
    private func verifyCheckpoints(positions: [String: Int64]) async throws -> (Int, Int64?, AuditChainBreak?) {
        let (checkpoints, keys, hashes) = try await database.read { sql in
            let checkpoints = try await AuditCheckpoint.all(sql)
            let keys = try await AuditSigningKey.verifiedPublicKeys(cipher: cipher, sql)
            var hashes: [Int64: (String, String)] = [:]
            for checkpoint in checkpoints {
                if let row = try await sql.select().columns("id", "hash").from(AuditRecord.table)
                    .where("sequence", .equal, SQLBind(checkpoint.sequence)).first()
                {
                    hashes[checkpoint.sequence] = (
                        try row.decode(column: "id", as: String.self), try row.decode(column: "hash", as: String.self)
                    )
                }
            }
            return (checkpoints, keys, hashes)
        }
        var lastSigned: Int64?
        for checkpoint in checkpoints {
            let problem: String?
            switch keys[checkpoint.keyID] {
            case nil: problem = "its signing key \(checkpoint.keyID) is missing"
            case .failure(let keyProblem): problem = "its signing key \(checkpoint.keyID) is not valid: \(keyProblem.detail)"
            case .success(let key):
                let valid = Data(base64Encoded: checkpoint.signature).map {
                    key.isValidSignature($0, for: checkpoint.signedMessage(service: service))
                } ?? false
                problem = valid ? nil : "its signature does not verify"
            }
            if let problem {
                return (checkpoints.count, lastSigned, AuditChainBreak(
                    kind: .checkpoint, sequence: checkpoint.sequence, recordID: hashes[checkpoint.sequence]?.0,
                    detail: "the checkpoint of record \(checkpoint.sequence): \(problem)"))
            }
            guard let (id, hash) = hashes[checkpoint.sequence] else {
                return (checkpoints.count, lastSigned, AuditChainBreak(
                    kind: .deleted, sequence: checkpoint.sequence, recordID: nil,
                    detail: "a signed checkpoint covers this record, but it is missing"))
            }
            guard hash == checkpoint.headHash else {
                let kind: AuditChainBreak.Kind = positions[checkpoint.headHash] == nil ? .modified : .reordered
                return (checkpoints.count, lastSigned, AuditChainBreak(
                    kind: kind, sequence: checkpoint.sequence, recordID: id,
                    detail: "its hash differs from the one a signed checkpoint recorded for this position"))
            }
            lastSigned = checkpoint.sequence
        }
        return (checkpoints.count, lastSigned, nil)
    }
}

/// The checks of one record against the chain so far.
private struct ChainWalk {
    let service: String
    let cipher: FieldCipher
    let positions: [String: Int64]
    /// The last record that checked out.
    var previous: AuditRecord?

    var expectedPreviousHash: String { previous?.hash ?? AuditRecord.genesisHash }
    var expectedSequence: Int64 { (previous?.sequence ?? 0) + 1 }

    mutating func check(_ stored: AuditRecord.Stored, following: AuditRecord.Stored?) -> AuditChainBreak? {
        var record = stored.record
        // It links to a record stored after it: records were moved.
        if let linked = positions[record.previousHash], linked > record.sequence {
            return AuditChainBreak(
                kind: .reordered, sequence: record.sequence, recordID: record.id,
                detail: "it follows record \(linked) in the chain but is stored before it")
        }
        // The next record links to this one's predecessor: this one was slipped in between.
        if let following, following.record.previousHash == expectedPreviousHash {
            return AuditChainBreak(
                kind: .inserted, sequence: record.sequence, recordID: record.id,
                detail: "the next record links to the record before it, so this one was never part of the chain")
        }
        do {
            record.details = try cipher.openBytes(
                stored.sealedDetails, table: AuditRecord.table, column: AuditRecord.detailsColumn, rowID: record.id)
        } catch {
            return AuditChainBreak(
                kind: .modified, sequence: record.sequence, recordID: record.id,
                detail: "its sealed details do not decrypt for this record (altered, copied or forged)")
        }
        guard record.computedHash(service: service) == record.hash else {
            return AuditChainBreak(
                kind: .modified, sequence: record.sequence, recordID: record.id,
                detail: "its content does not match its hash")
        }
        if record.previousHash != expectedPreviousHash {
            if record.sequence > expectedSequence || positions[record.previousHash] == nil && previous == nil {
                let missing = record.sequence > expectedSequence
                    ? "records \(expectedSequence) to \(record.sequence - 1) are missing"
                    : "the records before it are missing"
                return AuditChainBreak(
                    kind: .deleted, sequence: min(expectedSequence, record.sequence), recordID: nil,
                    detail: "\(missing): record \(record.sequence) (\(record.id)) links to a record that is gone")
            }
            if let previous {
                return AuditChainBreak(
                    kind: .modified, sequence: previous.sequence, recordID: previous.id,
                    detail: "it was rewritten: its hash is not the one record \(record.sequence) recorded for it")
            }
        }
        previous = record
        return nil
    }
}

/// Reads records in sequence order, a batch at a time.
private struct RecordStream {
    let database: any Database
    let batchSize: Int
    var buffer: [AuditRecord.Stored] = []
    var index = 0
    var after: Int64 = Int64.min
    var exhausted = false

    init(database: any Database, batchSize: Int) {
        self.database = database
        self.batchSize = batchSize
    }

    mutating func next() async throws -> AuditRecord.Stored? {
        if index == buffer.count {
            guard !exhausted else { return nil }
            let after = self.after
            let batchSize = self.batchSize
            buffer = try await database.read { sql in
                try await sql.select().columns(AuditRecord.columns).from(AuditRecord.table)
                    .where("sequence", .greaterThan, SQLBind(after)).orderBy("sequence").limit(batchSize).all()
                    .map(AuditRecord.decode)
            }
            index = 0
            exhausted = buffer.count < batchSize
            guard let last = buffer.last else { return nil }
            self.after = last.record.sequence
        }
        defer { index += 1 }
        return buffer[index]
    }
}
