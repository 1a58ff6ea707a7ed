import MeridianKit
import Testing

@testable import Gateway

/// The byte-level check of the request target the proxy forwards (`RequestTarget.checked`): what it refuses and,
/// as much, what it must let through unchanged.
@Suite struct RequestTargetTests {
    @Test(arguments: [
        "/.", "/..", "/api/orders/.", "/api/orders/..", "/api/users/../orders/1", "/api/orders/./1",
        "/api/%2e/x", "/api/%2E%2e/x", "/api/.%2E/x", "/api/%2e./x", "/api/..?q=1", "/api/orders/%2e%2e",
    ])
    func dotSegmentsAreRefused(target: String) {
        #expect(throws: Problem.self) { try RequestTarget.checked(target) }
    }

    @Test(arguments: [
        "/", "/api/orders/1", "/api/orders/...", "/api/orders/a..b", "/api/orders/.hidden", "/api/orders/..x",
        "/api/%2e%2e%2e/x", "/api/%2f../x", "/api/%2", "/api/%2ex", "/api/orders/1?next=../..",
        "/api/orders/1?./..", "/api//orders",
    ])
    func otherTargetsPassUnchanged(target: String) throws {
        #expect(try RequestTarget.checked(target) == target)
    }

    @Test func absoluteFormAndMissingTargetsAreRefused() {
        #expect(throws: Problem.self) { try RequestTarget.checked("http://upstream/api") }
        #expect(throws: Problem.self) { try RequestTarget.checked("api/orders") }
        #expect(throws: Problem.self) { try RequestTarget.checked(nil) }
    }
}
