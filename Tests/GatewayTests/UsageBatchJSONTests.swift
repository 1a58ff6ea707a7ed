import Foundation
import Testing

@testable import Gateway

/// The usage batch body the gateway writes by hand (`UsageBatch.json`): valid JSON, every member of the
/// contract, strings escaped, absent callers as `null`.
@Suite struct UsageBatchJSONTests {
    static let time = Date(timeIntervalSince1970: 1_764_000_000.125)

    static func parse(_ batch: UsageBatch) throws -> [[String: Any]] {
        let object = try JSONSerialization.jsonObject(with: Data(batch.json())) as? [String: Any]
        return try #require(object?["records"] as? [[String: Any]])
    }

    @Test func everyMemberIsWritten() throws {
        let record = UsageRecord(
            time: Self.time, route: "/api/orders/**", method: "PUT", status: 201, latencyMicros: 1234,
            bytesIn: 7, bytesOut: 9_000_000_000, subject: "usr_alice", clientID: "cli_test")
        let records = try Self.parse(UsageBatch(records: [record, record]))
        #expect(records.count == 2)
        let first = try #require(records.first)
        #expect(first["time"] as? String == "2025-11-24T16:00:00.125Z")
        #expect(first["route"] as? String == "/api/orders/**")
        #expect(first["method"] as? String == "PUT")
        #expect(first["status"] as? Int == 201)
        #expect(first["latency_us"] as? Int == 1234)
        #expect(first["bytes_in"] as? Int == 7)
        #expect(first["bytes_out"] as? Int == 9_000_000_000)
        #expect(first["subject"] as? String == "usr_alice")
        #expect(first["client_id"] as? String == "cli_test")
        #expect(first.count == 9)
    }

    @Test func stringsAreEscapedAndAbsentCallersAreNull() throws {
        let awkward = "a\"b\\c\u{01}\n\té/✓"
        let record = UsageRecord(
            time: Self.time, route: awkward, method: "GET", status: 401, latencyMicros: 0, bytesIn: 0, bytesOut: 0,
            subject: nil, clientID: nil)
        let first = try #require(try Self.parse(UsageBatch(records: [record])).first)
        #expect(first["route"] as? String == awkward)
        #expect(first["subject"] is NSNull)
        #expect(first["client_id"] is NSNull)
    }

    @Test func anEmptyBatchIsAnEmptyList() throws {
        #expect(try Self.parse(UsageBatch(records: [])).isEmpty)
    }
}
