import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import NIOCore
import SQLKit
import Synchronization
import Testing

/// A tiny service on the shared kernel: what every real service gets for free.
struct EchoService {
    let database: any Database
    let cipher: FieldCipher
    let metrics = ServiceMetrics(service: "echo")
    let readiness = Readiness()

    init(engine: DatabaseEngine) throws {
        database = try openDatabase(url: TestDatabase.url(engine), schema: "echo", logger: Logger(label: "t"))
        cipher = FieldCipher(service: "echo", database: database, masterKey: TestMasterKey.make())
    }

    func app(onCall: @escaping @Sendable () -> Int) -> some ApplicationProtocol {
        let router = ServiceHost.makeRouter(metrics: metrics, readiness: readiness)
        router.add(middleware: IdempotencyMiddleware(database: database, cipher: cipher))
        router.post("/things") { request, context -> Response in
            var body = try await request.fieldReader(context: context)
            let name = body.string("name")
            try body.finish()
            let call = onCall()
            if name == "fail" { throw Problem(.badGateway, detail: "upstream failed") }
            if name == "crash" { struct Unexpected: Error {}; throw Unexpected() }
            return try Response.json(["name": name ?? "", "call": String(call)], status: .created, headers: [.location: "/things/1"])
        }
        router.get("/things/{id}") { _, context -> Response in
            try Response.json(["id": context.parameters.require("id")], headers: [.eTag: EntityTag.make(version: 3)])
        }
        let database = database
        let cipher = cipher
        return ServiceHost.makeApplication(
            router: router, listen: .init(host: "127.0.0.1", port: 0), services: [database], readiness: readiness,
            logger: Logger(label: "t"),
            prepare: {
                try await Migrator(
                    database: database,
                    migrations: [IdempotencyMiddleware.migration, IdempotencyMiddleware.sealing] + CryptoMigrations.all
                        + AuditMigrations.all,
                    logger: Logger(label: "t")
                ).run()
                try await cipher.load()
            })
    }
}

func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
let jsonHeaders: HTTPFields = [.contentType: "application/json"]

func bodyObject(_ buffer: ByteBuffer) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] ?? [:]
}

@Suite struct HTTPConventionTests {
    @Test(arguments: TestDatabase.engines)
    func idempotencyKeyReplaysConflictsAndForgetsServerErrors(_ engine: DatabaseEngine) async throws {
        let service = try EchoService(engine: engine)
        let counter = Atomic<Int>(0)
        try await service.app(onCall: { counter.add(1, ordering: .relaxed).newValue }).test(.router) { client in
            var headers = jsonHeaders
            headers[.idempotencyKey] = "key-1"
            let first = try await client.execute(uri: "/things", method: .post, headers: headers, body: json(#"{"name":"a"}"#))
            #expect(first.status == .created)
            let replay = try await client.execute(uri: "/things", method: .post, headers: headers, body: json(#"{"name":"a"}"#))
            #expect(replay.status == .created)
            #expect(replay.headers[.idempotentReplayed] == "true")
            #expect(replay.headers[.location] == "/things/1")
            #expect(replay.body == first.body)
            #expect(counter.load(ordering: .relaxed) == 1)

            let different = try await client.execute(uri: "/things", method: .post, headers: headers, body: json(#"{"name":"b"}"#))
            #expect(different.status == .unprocessableContent)
            #expect(different.headers[.contentType] == Problem.contentType)

            headers[.idempotencyKey] = "key-2"
            let failed = try await client.execute(uri: "/things", method: .post, headers: headers, body: json(#"{"name":"fail"}"#))
            #expect(failed.status == .badGateway)
            let retried = try await client.execute(uri: "/things", method: .post, headers: headers, body: json(#"{"name":"fail"}"#))
            #expect(retried.status == .badGateway)
            #expect(retried.headers[.idempotentReplayed] == nil)

            headers[.idempotencyKey] = "key-3"
            let invalid = try await client.execute(uri: "/things", method: .post, headers: headers, body: json(#"{"nam":"x"}"#))
            #expect(invalid.status == .unprocessableContent)
            let invalidAgain = try await client.execute(uri: "/things", method: .post, headers: headers, body: json(#"{"nam":"x"}"#))
            #expect(invalidAgain.headers[.idempotentReplayed] == "true")

            headers[.idempotencyKey] = String(repeating: "k", count: 300)
            let badKey = try await client.execute(uri: "/things", method: .post, headers: headers, body: json(#"{"name":"a"}"#))
            #expect(badKey.status == .badRequest)
        }
    }

    @Test func errorsAreProblemsAndUnexpectedOnesRevealNothing() async throws {
        let service = try EchoService(engine: .sqlite)
        try await service.app(onCall: { 0 }).test(.router) { client in
            let crash = try await client.execute(uri: "/things", method: .post, headers: jsonHeaders, body: json(#"{"name":"crash"}"#))
            #expect(crash.status == .internalServerError)
            #expect(crash.headers[.contentType] == Problem.contentType)
            let problem = try bodyObject(crash.body)
            #expect(problem["status"] as? Int == 500)
            #expect((problem["detail"] as? String)?.contains("Unexpected") == false)

            let missing = try await client.execute(uri: "/nowhere", method: .get)
            #expect(missing.status == .notFound)
            #expect(missing.headers[.contentType] == Problem.contentType)

            let malformed = try await client.execute(uri: "/things", method: .post, headers: jsonHeaders, body: json("{"))
            #expect(malformed.status == .badRequest)
            #expect(try bodyObject(malformed.body)["title"] as? String == "Malformed JSON")

            let wrongType = try await client.execute(
                uri: "/things", method: .post, headers: [.contentType: "text/plain"], body: json(#"{"name":"a"}"#))
            #expect(wrongType.status == .unsupportedMediaType)

            let huge = ByteBuffer(repeating: UInt8(ascii: " "), count: MeridianRequestContext.maxBodySize + 10)
            let tooLarge = try await client.execute(uri: "/things", method: .post, headers: jsonHeaders, body: huge)
            #expect(tooLarge.status == .contentTooLarge)
            #expect(tooLarge.headers[.contentType] == Problem.contentType)

            let validation = try await client.execute(
                uri: "/things", method: .post, headers: jsonHeaders, body: json(#"{"name": 1, "zzz": 2}"#))
            #expect(validation.status == .unprocessableContent)
            let errors = try bodyObject(validation.body)["errors"] as? [[String: String]]
            #expect(errors?.map { $0["field"] ?? "" } == ["name", "zzz"])
        }
    }

    @Test func requestIDsAreKeptWhenSaneAndReplacedOtherwise() async throws {
        let service = try EchoService(engine: .sqlite)
        try await service.app(onCall: { 0 }).test(.router) { client in
            let kept = try await client.execute(uri: "/healthz", method: .get, headers: [.requestID: "abc-123"])
            #expect(kept.headers[.requestID] == "abc-123")
            let replaced = try await client.execute(uri: "/healthz", method: .get, headers: [.requestID: "bad id\"x"])
            #expect(replaced.headers[.requestID]?.hasPrefix("req_") == true)
            let generated = try await client.execute(uri: "/healthz", method: .get)
            #expect(generated.headers[.requestID]?.hasPrefix("req_") == true)
        }
    }

    @Test func readinessAndMetricsByRouteTemplate() async throws {
        let service = try EchoService(engine: .sqlite)
        #expect(!service.readiness.isReady)
        try await service.app(onCall: { 0 }).test(.router) { client in
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            _ = try await client.execute(uri: "/things/42", method: .get)
            _ = try await client.execute(uri: "/things/43", method: .get)
            _ = try await client.execute(uri: "/random/path", method: .get)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"http_requests_total{method="GET",route="/things/{id}",status="200"} 2"#))
            #expect(metrics.contains(#"status="404"} 1"#))
            #expect(!metrics.contains("/things/42"))
            #expect(!metrics.contains("/random/path"))
        }
    }

    @Test func entityTagsAndIfMatch() throws {
        #expect(EntityTag.make(version: 7) == "\"v7\"")
        let stale = Request(
            head: .init(method: .put, scheme: nil, authority: nil, path: "/x", headerFields: [.ifMatch: "\"v6\""]),
            body: .init(buffer: ByteBuffer()))
        #expect(throws: Problem.self) { try EntityTag.checkIfMatch(stale, currentVersion: 7) }
        let current = Request(
            head: .init(method: .put, scheme: nil, authority: nil, path: "/x", headerFields: [.ifMatch: "\"v6\", \"v7\""]),
            body: .init(buffer: ByteBuffer()))
        try EntityTag.checkIfMatch(current, currentVersion: 7)
        #expect(EntityTag.version(fromIfMatch: stale) == 6)
    }
}

@Suite struct IdempotencyCanonicalJSONTests {
    @Test func reorderedJSONIsTheSameRequest() async throws {
        let service = try EchoService(engine: .sqlite)
        let counter = Atomic<Int>(0)
        try await service.app(onCall: { counter.add(1, ordering: .relaxed).newValue }).test(.router) { client in
            var headers = jsonHeaders
            headers[.idempotencyKey] = "same-doc"
            let first = try await client.execute(uri: "/things", method: .post, headers: headers, body: json(#"{"name":"a"}"#))
            let second = try await client.execute(
                uri: "/things", method: .post, headers: headers, body: json("{ \"name\" :\n \"a\" }"))
            #expect(first.status == .created)
            #expect(second.headers[.idempotentReplayed] == "true")
            #expect(counter.load(ordering: .relaxed) == 1)
        }
    }
}

@Suite struct IdempotencyAtRestTests {
    @Test(arguments: TestDatabase.engines)
    func theKeptBodyIsCiphertextAndStillReplays(_ engine: DatabaseEngine) async throws {
        let service = try EchoService(engine: engine)
        let counter = Atomic<Int>(0)
        try await service.app(onCall: { counter.add(1, ordering: .relaxed).newValue }).test(.router) { client in
            var headers = jsonHeaders
            headers[.idempotencyKey] = "sealed-1"
            let marker = "marker-\(UUID().uuidString)"
            let body = json(#"{"name":"\#(marker)"}"#)
            let first = try await client.execute(uri: "/things", method: .post, headers: headers, body: body)
            #expect(first.status == .created)
            let sealed = try #require(
                try await service.database.read { sql in
                    try await sql.select().column("sealed_body").from("meridian_idempotency")
                        .where("key", .equal, SQLBind("sealed-1")).first()?.decode(column: "sealed_body", as: Data.self)
                })
            #expect(!sealed.isEmpty)
            #expect(sealed.range(of: Data(marker.utf8)) == nil, "the kept body is not plaintext")
            let replay = try await client.execute(uri: "/things", method: .post, headers: headers, body: body)
            #expect(replay.headers[.idempotentReplayed] == "true")
            #expect(replay.body == first.body)
            #expect(counter.load(ordering: .relaxed) == 1)
        }
    }

    @Test func callersWithoutATokenAreKeptApartByTheirCredential() async throws {
        let service = try EchoService(engine: .sqlite)
        let counter = Atomic<Int>(0)
        try await service.app(onCall: { counter.add(1, ordering: .relaxed).newValue }).test(.router) { client in
            var headers = jsonHeaders
            headers[.idempotencyKey] = "shared-key"
            headers[.authorization] = "Basic d3JpdGUta2V5LWE6"
            let first = try await client.execute(uri: "/things", method: .post, headers: headers, body: json(#"{"name":"a"}"#))
            #expect(first.status == .created)
            headers[.authorization] = "Basic d3JpdGUta2V5LWI6"
            let other = try await client.execute(uri: "/things", method: .post, headers: headers, body: json(#"{"name":"a"}"#))
            #expect(other.headers[.idempotentReplayed] == nil, "another credential never receives the first one's answer")
            headers[.authorization] = "Basic d3JpdGUta2V5LWE6"
            let same = try await client.execute(uri: "/things", method: .post, headers: headers, body: json(#"{"name":"a"}"#))
            #expect(same.headers[.idempotentReplayed] == "true")
            #expect(counter.load(ordering: .relaxed) == 2)
        }
    }
}
