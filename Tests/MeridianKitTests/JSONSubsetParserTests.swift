import Foundation
@testable import MeridianKit
import MeridianTestSupport
import Testing

/// `JSONValue.parse`'s fast path parses exactly like Foundation: same value for every document it
/// takes, and everything else handed to Foundation, which keeps deciding (and refusing).
@Suite struct JSONSubsetParserTests {
    /// Documents in the subset: taken by the fast path, and equal to Foundation's reading.
    static let inSubset = [
        #"{"events":[{"id":"0b0c5f0e-2a4e-4c4e-9d4e-1a2b3c4d5e6f","name":"signup","user_id":"usr_1","timestamp":"2026-11-26T01:02:03.456Z","properties":{"plan":"pro","value":169}}]}"#,
        #"  { "a" : [ 1 , -2 , 0 , 9223372036854775807 , -9223372036854775807 ] , "b" : { } , "c" : [ ] }  "#,
        "{\"t\":true,\"f\":false,\"n\":null,\"nested\":[[[{\"deep\":[]}]]]}\n",
        #"{"esc":"quote \" backslash \\ slash \/ \b\f\n\r\t","u":"\u00e9\u4e2d\u0000\u001f","raw":"é中🎉"}"#,
        #"["mixed",1,true,null,{"k":"v"}]"#,
        #""just a string""#, "42", "true", "null",
        #"{"":"empty key","ключ":"значение"}"#,
    ]

    /// Documents outside the subset, valid or not: the fast path declines, Foundation decides.
    static let outsideSubset = [
        #"{"n":1.5}"#, #"{"n":1e3}"#, #"{"n":1.0}"#, #"{"n":-0}"#, #"{"n":9223372036854775808}"#,
        #"{"n":-9223372036854775808}"#, #"{"s":"\ud83c\udf89"}"#, #"{"a":1,"a":2}"#, #"{"a":01}"#,
        "{\"ctl\":\"a\u{01}b\"}", #"{"a":1,}"#, #"[1,]"#, #"{"a" 1}"#, #"{a:1}"#, #"{"a":tru}"#, "", "   ",
        #"{"a":1} x"#, #"{"a":"\x"}"#, #"{"a":"\u12"}"#, "\u{FEFF}{}", #"{"a":[1,2}"#, #"{"a":NaN}"#,
        String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ]

    static func foundation(_ text: String) -> JSONValue? { try? JSONValue.parseWithFoundation(Array(text.utf8)) }

    @Test(arguments: inSubset)
    func subsetDocumentsParseLikeFoundation(_ text: String) throws {
        let bytes = Array(text.utf8)
        let fast = bytes.withUnsafeBufferPointer { JSONSubsetParser.parseSubset($0) }
        #expect(fast != nil)
        #expect(fast == JSONSubsetParserTests.foundation(text))
        #expect(try JSONValue.parse(bytes) == JSONValue.parseWithFoundation(bytes))
    }

    @Test(arguments: outsideSubset)
    func otherDocumentsAreLeftToFoundation(_ text: String) {
        let bytes = Array(text.utf8)
        #expect(bytes.withUnsafeBufferPointer { JSONSubsetParser.parseSubset($0) } == nil)
        #expect((try? JSONValue.parse(bytes)) == JSONSubsetParserTests.foundation(text))
    }

    /// Invalid bytes (not UTF-8) inside a string: declined, and Foundation's answer stands.
    @Test func invalidUTF8IsLeftToFoundation() {
        let bytes: [UInt8] = Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(bytes.withUnsafeBufferPointer { JSONSubsetParser.parseSubset($0) } == nil)
        #expect((try? JSONValue.parse(bytes)) == (try? JSONValue.parseWithFoundation(bytes)))
    }

    /// Random documents of the subset (seeded, so a failure replays), serialised with random spacing and escapes:
    /// the fast path takes each one and reads the same value as Foundation.
    @Test func randomDocumentsParseLikeFoundation() throws {
        var generator = SeededGenerator(seed: 7_2026)
        let pieces = ["a", "Z", "0", " ", "é", "中", "🎉", "\"", "\\", "/", "\n", "\t", "\u{7}", "\u{1F}", "plan", "usr_1"]
        func text() -> String {
            (0..<Int.random(in: 0...6, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
        }
        func encode(_ string: String) -> String {
            var out = "\""
            for scalar in string.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += Bool.random(using: &generator) ? "\\\\" : "\\u005c"
                case "/": out += Bool.random(using: &generator) ? "/" : "\\/"
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
                case _ where scalar.value > 0x7F && scalar.value < 0x10000 && Bool.random(using: &generator):
                    out += String(format: "\\u%04X", scalar.value)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        func space() -> String { ["", " ", "\n", "\t ", "\r\n"].randomElement(using: &generator)! }
        func document(depth: Int) -> String {
            switch Int.random(in: 0..<(depth > 3 ? 4 : 6), using: &generator) {
            case 0: return encode(text())
            case 1: return String(Int64.random(in: Int64.min + 1...Int64.max, using: &generator) >> Int64.random(in: 0...62, using: &generator))
            case 2: return ["true", "false", "null"].randomElement(using: &generator)!
            case 3: return String(Int.random(in: 0...9, using: &generator))
            case 4:
                let elements = (0..<Int.random(in: 0...4, using: &generator)).map { _ in space() + document(depth: depth + 1) + space() }
                return "[" + elements.joined(separator: ",") + "]"
            default:
                var keys = Set<String>()
                for _ in 0..<Int.random(in: 0...4, using: &generator) { keys.insert(text()) }
                let members = keys.sorted().map { space() + encode($0) + space() + ":" + space() + document(depth: depth + 1) }
                return "{" + members.joined(separator: ",") + space() + "}"
            }
        }
        for _ in 0..<300 {
            let source = space() + document(depth: 0) + space()
            let bytes = Array(source.utf8)
            let fast = bytes.withUnsafeBufferPointer { JSONSubsetParser.parseSubset($0) }
            let reference = try JSONValue.parseWithFoundation(bytes)
            #expect(fast == reference, "\(source)")
        }
    }
}
