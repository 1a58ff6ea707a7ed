import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import Synchronization
import Testing

@testable import Notifications

/// `If-Match` on the writes of the notifications service: templates and preferences carry a version (`ETag`),
/// a stale tag is `412` with the current tag, and a concurrent writer is never overwritten silently.
@Suite struct ConditionalWriteTests {
    typealias H = NotificationHarness

    static func request(ifMatch: String?) -> Request {
        var fields: HTTPFields = [:]
        if let ifMatch { fields[.ifMatch] = ifMatch }
        return Request(
            head: HTTPRequest(method: .put, scheme: "http", authority: "localhost", path: "/", headerFields: fields),
            body: RequestBody(buffer: ByteBuffer()))
    }

    /// A store whose version a concurrent writer moves on between our read and our write, `races` times.
    final class RacingStore: Sendable {
        private let state: Mutex<(version: Int64, races: Int, writes: [Int64])>

        init(version: Int64, races: Int) { state = Mutex((version, races, [])) }

        func read() -> Int64 { state.withLock { $0.version } }

        /// Writes over `expected` unless a concurrent writer gets there first (which moves the version on).
        func write(expected: Int64) -> Int64? {
            state.withLock { state in
                if state.races > 0 {
                    state.races -= 1
                    state.version += 1
                    return nil
                }
                guard state.version == expected else { return nil }
                state.version += 1
                state.writes.append(state.version)
                return state.version
            }
        }

        var writes: [Int64] { state.withLock { $0.writes } }
    }

    static func run(_ store: RacingStore, ifMatch: String?) async throws -> Int64 {
        try await ConditionalWrite.run(
            request(ifMatch: ifMatch), read: { store.read() }, version: { $0 }, write: { store.write(expected: $0) })
    }

    @Test func aClientNamingTheVersionALostRaceReplacedGets412WithTheCurrentTag() async throws {
        let store = RacingStore(version: 1, races: 1)
        do {
            _ = try await Self.run(store, ifMatch: "\"v1\"")
            Issue.record("a write over a version that is no longer current succeeded")
        } catch let problem as Problem {
            #expect(problem.status == .preconditionFailed)
            #expect(problem.headers[.eTag] == "\"v2\"")
        }
        #expect(store.writes == [])
    }

    @Test func withoutIfMatchALostRaceIsRetriedOnTheNewVersion() async throws {
        let store = RacingStore(version: 1, races: 1)
        #expect(try await Self.run(store, ifMatch: nil) == 3)
        #expect(store.writes == [3])
        let wildcard = RacingStore(version: 4, races: 2)
        #expect(try await Self.run(wildcard, ifMatch: "*") == 7)
    }

    @Test func aWriterThatKeepsLosingGivesUpWith409() async throws {
        let store = RacingStore(version: 1, races: ConditionalWrite.attempts)
        do {
            _ = try await Self.run(store, ifMatch: nil)
            Issue.record("a writer that never won the race claimed success")
        } catch let problem as Problem {
            #expect(problem.status == .conflict)
        }
        #expect(store.writes == [])
    }

    @Test(arguments: TestDatabase.engines)
    func preferencesAreVersionedAndHonourIfMatch(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let alice = Identifier.make(prefix: "usr")
        let aliceToken = try await h.token(.customer, alice)
        let path = "/api/notification-preferences/\(alice)"
        let optOut = #"{"preferences":[{"category":"news","channel":"email","enabled":false}]}"#
        let optIn = #"{"preferences":[]}"#
        try await h.service.makeApplication().test(.router) { client in
            // Never changed: the defaults, at version 1.
            let initial = try await client.call(.get, path, token: aliceToken)
            #expect(initial.status == .ok)
            #expect(initial.headers[.eTag] == "\"v1\"")

            let stale = try await client.call(.put, path, token: aliceToken, body: optOut, headers: [.ifMatch: "\"v2\""])
            #expect(stale.status == .preconditionFailed)
            #expect(stale.headers[.eTag] == "\"v1\"")
            #expect(stale.headers[.contentType] == Problem.contentType)

            let saved = try await client.call(.put, path, token: aliceToken, body: optOut, headers: [.ifMatch: "\"v1\""])
            #expect(saved.status == .ok)
            #expect(saved.headers[.eTag] == "\"v2\"")
            let read = try await client.call(.get, path, token: aliceToken)
            #expect(read.headers[.eTag] == "\"v2\"")
            #expect((try H.json(read)["preferences"] as? [Any])?.count == 1)

            // The tag read before that change is stale now, and the change it would undo stays.
            let lost = try await client.call(.put, path, token: aliceToken, body: optIn, headers: [.ifMatch: "\"v1\""])
            #expect(lost.status == .preconditionFailed)
            #expect(lost.headers[.eTag] == "\"v2\"")
            #expect((try H.json(try await client.call(.get, path, token: aliceToken))["preferences"] as? [Any])?.count == 1)

            // Without If-Match the last writer wins, and the version still moves on.
            let unconditional = try await client.call(.put, path, token: aliceToken, body: optIn)
            #expect(unconditional.status == .ok)
            #expect(unconditional.headers[.eTag] == "\"v3\"")
            #expect((try H.json(unconditional)["preferences"] as? [Any])?.isEmpty == true)

            // The body is a closed object: an unknown member is a 422 naming it, and nothing changes.
            let unknown = try await client.call(
                .put, path, token: aliceToken, body: #"{"preferences":[],"mute_all":true}"#)
            #expect(unknown.status == .unprocessableContent)
            #expect(try H.json(unknown)["errors"].debugDescription.contains("mute_all"))
            #expect(try await client.call(.get, path, token: aliceToken).headers[.eTag] == "\"v3\"")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func staleTemplateWritesAre412WithTheCurrentTag(_ engine: DatabaseEngine) async throws {
        let h = try await H(engine)
        let admin = try await h.token(.admin)
        try await h.service.makeApplication().test(.router) { client in
            let create = #"{"id":"digest","category":"news","subject":"Digest","text":"Hello"}"#
            #expect(try await client.call(.post, "/api/notification-templates", token: admin, body: create).status == .created)
            let update = #"{"category":"news","subject":"Weekly digest","text":"Hello"}"#
            let updated = try await client.call(
                .put, "/api/notification-templates/digest", token: admin, body: update, headers: [.ifMatch: "\"v1\""])
            #expect(updated.status == .ok)
            #expect(updated.headers[.eTag] == "\"v2\"")

            let stalePut = try await client.call(
                .put, "/api/notification-templates/digest", token: admin, body: update, headers: [.ifMatch: "\"v1\""])
            #expect(stalePut.status == .preconditionFailed)
            #expect(stalePut.headers[.eTag] == "\"v2\"")
            let staleDelete = try await client.call(
                .delete, "/api/notification-templates/digest", token: admin, headers: [.ifMatch: "\"v1\""])
            #expect(staleDelete.status == .preconditionFailed)
            #expect(staleDelete.headers[.eTag] == "\"v2\"")
            #expect(try await client.call(.get, "/api/notification-templates/digest", token: admin).status == .ok)

            let deleted = try await client.call(
                .delete, "/api/notification-templates/digest", token: admin, headers: [.ifMatch: "\"v2\""])
            #expect(deleted.status == .noContent)
            #expect(try await client.call(.get, "/api/notification-templates/digest", token: admin).status == .notFound)
        }
    }
}
