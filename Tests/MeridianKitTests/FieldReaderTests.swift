import Foundation
import MeridianKit
import Testing

@Suite struct FieldReaderTests {
    func reader(_ json: String) throws -> FieldReader { try FieldReader(json: Array(json.utf8)) }

    func validationErrors(_ body: () throws -> Void) -> [FieldError] {
        do {
            try body()
        } catch let problem as Problem {
            #expect(problem.status == .unprocessableContent)
            return problem.errors
        } catch {
            Issue.record("unexpected error \(error)")
        }
        return []
    }

    @Test func readsValidFields() throws {
        var body = try reader(#"{"name": "Ada", "count": 3, "flag": true}"#)
        #expect(body.string("name") == "Ada")
        #expect(body.integer("count", in: 1...10) == 3)
        #expect(body.optionalBool("flag") == true)
        try body.finish()
    }

    @Test func readsStrictRFC3339Times() throws {
        var good = try reader(#"{"at": "2026-11-26T09:30:00.250+01:00"}"#)
        #expect(good.time("at") == Date(timeIntervalSince1970: 1_795_681_800.25))
        try good.finish()
        let errors = validationErrors {
            var body = try reader(#"{"a": "yesterday", "b": "2026-02-30T00:00:00Z", "c": 5}"#)
            _ = body.time("a")
            _ = body.time("b")
            _ = body.time("c")
            _ = body.time("d")
            try body.finish()
        }
        #expect(errors.map(\.field) == ["a", "b", "c", "d"])
        #expect(errors.map(\.message).prefix(2) == ["must be an RFC 3339 time", "must be an RFC 3339 time"])
        #expect(errors[3].message == "is required")
    }

    @Test func listsEveryBadFieldAndUnknownOnes() throws {
        let errors = validationErrors {
            var body = try reader(#"{"name": 5, "count": 11, "extra": 1, "other": null}"#)
            _ = body.string("name")
            _ = body.integer("count", in: 1...10)
            _ = body.string("missing")
            try body.finish()
        }
        #expect(errors.map(\.field) == ["name", "count", "missing", "extra", "other"])
        #expect(errors[0].message.contains("string"))
        #expect(errors[1].message.contains("between 1 and 10"))
        #expect(errors[2].message == "is required")
        #expect(errors[3].message == "is not a known field")
    }

    @Test func aRequiredBooleanRefusesNullAbsenceAndOtherTypes() throws {
        let errors = validationErrors {
            var body = try reader(#"{"a": null, "c": "yes", "d": false}"#)
            _ = body.bool("a")
            _ = body.bool("b")
            _ = body.bool("c")
            #expect(body.bool("d") == false)
            try body.finish()
        }
        #expect(errors.map(\.field) == ["a", "b", "c"])
        #expect(errors.map(\.message) == ["is required", "is required", "must be a boolean, not string"])
    }

    @Test func nestedPathsNameTheElement() throws {
        let errors = validationErrors {
            var body = try reader(#"{"items": [{"q": 1}, {"q": "x"}, 7], "address": {"city": "", "zip": 1}}"#)
            _ = body.objects("items", maxCount: 5) { item in item.integer("q", in: 1...5) }
            _ = body.object("address") { address in address.string("city") }
            try body.finish()
        }
        #expect(errors.map(\.field) == ["items[1].q", "items[2]", "address.city", "address.zip"])
    }

    @Test func integersMustBeExactIntegers() throws {
        let errors = validationErrors {
            var body = try reader(#"{"a": 1.5, "b": "2", "c": 99999999999999999999}"#)
            _ = body.integer("a", in: 0...10)
            _ = body.integer("b", in: 0...10)
            _ = body.integer("c", in: 0...10)
            try body.finish()
        }
        #expect(errors.map(\.field) == ["a", "b", "c"])
    }

    @Test(arguments: ["", "{", "[1,2]", "\"text\"", "nul", "{\"a\":1}}"])
    func malformedOrNonObjectBodiesAre400(_ text: String) {
        #expect {
            _ = try FieldReader(json: Array(text.utf8))
        } throws: { error in
            (error as? Problem)?.status == .badRequest
        }
    }

    @Test func rejectsControlCharactersAndLengthBounds() throws {
        let errors = validationErrors {
            var body = try reader(#"{"a": "x\u0001y", "b": "", "c": "toolong"}"#)
            _ = body.string("a")
            _ = body.string("b")
            _ = body.string("c", maxLength: 3)
            try body.finish()
        }
        #expect(errors.map(\.field) == ["a", "b", "c"])
    }

    /// "e" with four combining marks is one Swift `Character` but five code points; JSON Schema's maxLength
    /// (the OpenAPI document's) counts code points, so the server must too.
    @Test func lengthsCountCodePointsAsJSONSchemaDoes() throws {
        let errors = validationErrors {
            var body = try reader(#"{"zalgo": "e\u0301\u0302\u0303\u0304", "fits": "e\u0301\u0302"}"#)
            _ = body.string("zalgo", maxLength: 3)
            #expect(body.string("fits", maxLength: 3) == "e\u{301}\u{302}")
            try body.finish()
        }
        #expect(errors.map(\.field) == ["zalgo"])
    }

    @Test func arrayBoundsAreChecked() throws {
        let errors = validationErrors {
            var body = try reader(#"{"empty": [], "many": [{}, {}, {}]}"#)
            _ = body.objects("empty", minCount: 1, maxCount: 5) { _ in 1 }
            _ = body.objects("many", maxCount: 2) { _ in 1 }
            try body.finish()
        }
        #expect(errors.map(\.field) == ["empty", "many"])
    }
}
