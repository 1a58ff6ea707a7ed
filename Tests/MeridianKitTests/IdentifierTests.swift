import Foundation
import MeridianKit
import Testing

@Suite struct IdentifierTests {
    @Test func idsAreWellFormedAndUnique() {
        let ids = (0..<1000).map { _ in Identifier.make(prefix: "ord") }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { Identifier.isWellFormed($0, prefix: "ord") })
        #expect(!Identifier.isWellFormed(ids[0], prefix: "usr"))
        #expect(!Identifier.isWellFormed("ord_short", prefix: "ord"))
        #expect(!Identifier.isWellFormed("ord_0123456789ABCDEFGHJKMNPQRU", prefix: "ord"))  // U is not Crockford
    }

    @Test func idsSortInCreationOrder() {
        let base = Date()
        let ids = (0..<100).map { Identifier.make(prefix: "x", now: base.addingTimeInterval(Double($0) * 0.001)) }
        #expect(ids == ids.sorted())
    }
}
