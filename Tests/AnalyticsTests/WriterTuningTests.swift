import Foundation
import MeridianKit
import SQLKit
import Testing

@testable import Analytics

/// The first batch sets the SQLite writer's page cache to 64 MB, and leaves durability as the kernel set it.
@Suite struct WriterTuningTests {
    @Test func theFirstBatchEnlargesTheWritersPageCache() async throws {
        try await withAnalyticsService(.sqlite) { harness in
            let pragma = { (name: String) in
                try await harness.service.database.transaction { sql in
                    try await sql.raw("PRAGMA \(unsafeRaw: name)").first(decodingColumn: name, as: Int.self)
                }
            }
            #expect(try await pragma("cache_size") != -65_536)
            let response = try await harness.send([event()])
            #expect(response.status == .ok)
            #expect(try await pragma("cache_size") == -65_536)
            // WAL with synchronous=FULL (2): every acknowledged commit is on disk.
            #expect(try await pragma("synchronous") == 2)
            let journal = try await harness.service.database.transaction { sql in
                try await sql.raw("PRAGMA journal_mode").first(decodingColumn: "journal_mode", as: String.self)
            }
            #expect(journal == "wal")
        }
    }
}
