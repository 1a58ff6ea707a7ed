import MeridianKit
import Testing

@Suite struct JSONValueTests {
    @Test func parsesKindsExactly() throws {
        let value = try JSONValue.parse(Array(#"{"i": 9007199254740993, "d": 1.25, "b": false, "n": null, "s": "é"}"#.utf8))
        guard case .object(let members) = value else {
            Issue.record("not an object")
            return
        }
        #expect(members["i"] == .integer(9_007_199_254_740_993))
        #expect(members["d"] == .number(1.25))
        #expect(members["b"] == .bool(false))
        #expect(members["n"] == .null)
        #expect(members["s"] == .string("é"))
    }

    @Test func serialisesSortedAndEscaped() {
        let value = JSONValue.object(["b": .string("a\"b\n\u{1}"), "a": .array([.integer(1), .bool(true), .null])])
        #expect(String(decoding: value.serialized(), as: UTF8.self) == #"{"a":[1,true,null],"b":"a\"b\n\u0001"}"#)
    }

    @Test func roundTrips() throws {
        let text = #"{"a":[1,2.5,"x"],"b":{"c":null}}"#
        #expect(String(decoding: try JSONValue.parse(Array(text.utf8)).serialized(), as: UTF8.self) == text)
    }
}
