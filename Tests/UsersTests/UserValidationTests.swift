import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import Testing

@testable import Users

@Suite struct UserValidationTests {
    @Test(arguments: TestDatabase.engines)
    func everyBadFieldIsListedIncludingUnknownOnes(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            let response = try await client.execute(
                uri: "/api/users", method: .post, headers: jsonHeaders,
                body: try jsonBody(["email": "not-an-email", "name": "", "password": "short", "admin": true]))
            #expect(response.status == .unprocessableContent)
            #expect(response.headers[.contentType] == Problem.contentType)
            #expect(Set(try errorFields(response)) == ["email", "name", "password", "admin"])
            #expect(try errorMessages(response, field: "admin") == ["is not a known field"])
            #expect(try await userCount(service) == 0)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func missingAndNullFieldsAreRequired(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            for body in ["{}", #"{"email": null, "name": null, "password": null}"#] {
                let response = try await client.execute(
                    uri: "/api/users", method: .post, headers: jsonHeaders, body: ByteBuffer(string: body))
                #expect(response.status == .unprocessableContent)
                for field in ["email", "name", "password"] {
                    #expect(try errorMessages(response, field: field) == ["is required"], "\(body) \(field)")
                }
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func wrongTypesAreValidationErrors(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let response = try await client.execute(
                uri: "/api/users", method: .post, headers: jsonHeaders,
                body: ByteBuffer(string: #"{"email": 42, "name": true, "password": ["a"]}"#))
            #expect(response.status == .unprocessableContent)
            #expect(try errorMessages(response, field: "email") == ["must be a string, not integer"])
            #expect(try errorMessages(response, field: "name") == ["must be a string, not boolean"])
            #expect(try errorMessages(response, field: "password") == ["must be a string, not array"])
        }
    }

    @Test(arguments: TestDatabase.engines)
    func emailRulesAreEnforced(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let long = String(repeating: "a", count: 243) + "@example.com"  // 255 characters
            for email in ["", "a@", "@example.com", "ada@example", "ada@@example.com", "a@b@example.com",
                          "ada lovelace@example.com", "ada@example..com", "ada@.example.com", "ada@example.com.",
                          "ad\u{7}a@example.com", long] {
                let response = try await client.createUser(email: email)
                #expect(response.status == .unprocessableContent, "\(email)")
                #expect(try errorFields(response) == ["email"], "\(email)")
            }
            for email in ["a@b.co", "o'brien+tag@sub.example.org", "Zoë@exämple.com",
                          String(repeating: "a", count: 242) + "@example.com"] {
                #expect(try await client.createUser(email: email).status == .created, "\(email)")
            }
        }
    }

    @Test(arguments: TestDatabase.engines)
    func passwordLengthIsCountedInUTF8Bytes(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            // "€" is three bytes: 24 of them are 72 bytes (accepted), 25 are 75 bytes in 25 characters.
            let tooLong = try await client.createUser(email: "a@example.com", password: String(repeating: "€", count: 25))
            #expect(tooLong.status == .unprocessableContent)
            let message = try #require(try errorMessages(tooLong, field: "password").first)
            #expect(message.contains("72 bytes") && message.contains("bcrypt"))

            let tooShort = try await client.createUser(email: "b@example.com", password: "elevenchars")
            #expect(try errorFields(tooShort) == ["password"])

            #expect(try await client.createUser(email: "c@example.com", password: String(repeating: "€", count: 24)).status == .created)
            #expect(try await client.createUser(email: "d@example.com", password: "twelve chars").status == .created)
            #expect(try await client.createUser(email: "e@example.com", password: String(repeating: "p", count: 73)).status == .unprocessableContent)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func nameRulesAreEnforced(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            for name in ["", "   ", String(repeating: "n", count: 201), "Ada\nLovelace"] {
                let response = try await client.createUser(email: "ada@example.com", name: name)
                #expect(try errorFields(response) == ["name"], "\(name.debugDescription)")
            }
            #expect(try await client.createUser(email: "ada@example.com", name: String(repeating: "n", count: 200)).status == .created)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func bodiesThatAreNotAJSONObjectAreBadRequests(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            for body in ["{\"email\": ", "[1, 2]", "\"text\"", ""] {
                let response = try await client.execute(
                    uri: "/api/users", method: .post, headers: jsonHeaders, body: ByteBuffer(string: body))
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.headers[.contentType] == Problem.contentType)
            }
            let noBody = try await client.execute(uri: "/api/users", method: .post, headers: jsonHeaders)
            #expect(noBody.status == .badRequest)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func nonJSONContentTypeIsUnsupported(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, _ in
            let response = try await client.execute(
                uri: "/api/users", method: .post, headers: [.contentType: "text/plain"],
                body: try jsonBody(["email": "a@example.com", "name": "A", "password": "correct horse battery"]))
            #expect(response.status == .unsupportedMediaType)
            #expect(response.headers[.contentType] == Problem.contentType)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func bodiesOverOneMebibyteAreTooLarge(_ engine: DatabaseEngine) async throws {
        try await withUsersService(engine) { client, service in
            let huge = #"{"email": "a@example.com", "name": ""# + String(repeating: "x", count: 1 << 20) + #""}"#
            for path in ["/api/users", "/api/users/\(Identifier.make(prefix: "usr"))"] {
                let response = try await client.execute(
                    uri: path, method: path == "/api/users" ? .post : .patch, headers: jsonHeaders,
                    body: ByteBuffer(string: huge))
                #expect(response.status == .contentTooLarge, "\(path)")
                #expect(response.headers[.contentType] == Problem.contentType)
            }
            #expect(try await userCount(service) == 0)
        }
    }
}
