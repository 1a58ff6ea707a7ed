import Foundation
import HTTPTypes
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import NIOCore
import SQLKit
import Testing

@testable import Users

/// `POST /oauth/authorize`: the sign-in form coming back, with its CSRF token, credentials and throttles.
@Suite struct LoginFormTests {
    @Test(arguments: TestDatabase.engines)
    func csrfTokenAndCookieAreBothRequiredAndMustMatch(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            try await createAccount(service, email: "csrf@example.com")
            let form = try await client.openLoginForm()
            let other = try await client.openLoginForm()
            var noToken = form
            noToken.set("csrf_token", nil)
            var wrongToken = form
            // One character changed; the replacement must differ from it (a token starting with "A" once made
            // the "wrong" token the right one).
            let token = form["csrf_token"] ?? ""
            wrongToken.set("csrf_token", (token.first == "A" ? "B" : "A") + String(token.dropFirst()))
            var noCookie = form
            noCookie.cookie = nil
            var otherCookie = form
            otherCookie.cookie = other.cookie

            for (name, attempt) in [
                ("no token", noToken), ("wrong token", wrongToken), ("no cookie", noCookie),
                ("another browser's cookie", otherCookie),
            ] {
                let response = try await client.submitLogin(attempt, email: "csrf@example.com", password: testPassword)
                #expect(response.status == .forbidden, "\(name)")
                #expect(response.headers[.location] == nil, "\(name)")
                #expect(String(buffer: response.body).contains("expired"), "\(name)")
            }
            #expect(try await rowCount(service, "authorization_codes") == 0)
            // The genuine form still works.
            #expect(try await client.submitLogin(form, email: "csrf@example.com", password: testPassword).status == .found)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func wrongCredentialsGetOneGenericErrorAndNoCode(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            try await createAccount(service, email: "real@example.com")
            let form = try await client.openLoginForm()
            var bodies: [String] = []
            for (email, password) in [
                ("real@example.com", "wrong password here"), ("nobody@example.com", testPassword),
                ("real@example.com", String(repeating: "x", count: 100)),
            ] {
                let response = try await client.submitLogin(form, email: email, password: password)
                #expect(response.status == .badRequest)
                #expect(response.headers[.location] == nil)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                let html = String(buffer: response.body)
                #expect(html.contains("The email or password is incorrect."))
                // The typed email is kept (escaped), the password never echoed.
                #expect(!html.contains(password))
                bodies.append(html.replacingOccurrences(of: email, with: ""))
            }
            // Known and unknown accounts are indistinguishable.
            #expect(Set(bodies).count == 1)
            #expect(try await rowCount(service, "authorization_codes") == 0)
            let missing = try await client.submitLogin(form, email: "", password: "")
            #expect(missing.status == .badRequest)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func tamperedHiddenFieldsAreValidatedAgain(_ engine: DatabaseEngine) async throws {
        try await withRawUsersService(engine) { client, service in
            try await createAccount(service, email: "tamper@example.com")
            var redirected = try await client.openLoginForm()
            redirected.set("redirect_uri", "https://evil.example/callback")
            let evil = try await client.submitLogin(redirected, email: "tamper@example.com", password: testPassword)
            #expect(evil.status == .badRequest)
            #expect(evil.headers[.location] == nil)

            var plain = try await client.openLoginForm()
            plain.set("code_challenge_method", "plain")
            let downgraded = try await client.submitLogin(plain, email: "tamper@example.com", password: testPassword)
            #expect(downgraded.status == .found)
            #expect(try redirectParameters(downgraded)["error"] == "invalid_request")
            #expect(try await rowCount(service, "authorization_codes") == 0)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func failedLoginsPerAccountAreThrottledWithGrowingDelays(_ engine: DatabaseEngine) async throws {
        let clock = TestClock()
        try await withRawUsersService(
            engine, configure: { $0.accountThrottle = LoginThrottle(freeFailures: 3, baseDelay: 60, maxDelay: 900, window: 3600) },
            now: clock.now
        ) { client, service in
            try await createAccount(service, email: "victim@example.com")
            let form = try await client.openLoginForm()
            for _ in 0..<3 {
                #expect(try await client.submitLogin(form, email: "victim@example.com", password: "guess guess guess").status == .badRequest)
            }
            // Past the bound even the right password waits, and the answer says for how long.
            let blocked = try await client.submitLogin(form, email: "VICTIM@example.com", password: testPassword)
            #expect(blocked.status == .tooManyRequests)
            #expect(blocked.headers[.retryAfter] == "60")
            #expect(String(buffer: blocked.body).contains("Too many failed sign-in attempts"))
            #expect(try await rowCount(service, "authorization_codes") == 0)
            // Other accounts are not affected.
            try await createAccount(service, email: "bystander@example.com")
            #expect(try await client.submitLogin(form, email: "bystander@example.com", password: testPassword).status == .found)

            // After the delay one more guess is allowed; failing it doubles the delay.
            clock.advance(by: 61)
            #expect(try await client.submitLogin(form, email: "victim@example.com", password: "guess again!!").status == .badRequest)
            clock.advance(by: 61)
            let longer = try await client.submitLogin(form, email: "victim@example.com", password: testPassword)
            #expect(longer.status == .tooManyRequests)
            #expect(longer.headers[.retryAfter] == "59")
            clock.advance(by: 60)
            #expect(try await client.submitLogin(form, email: "victim@example.com", password: testPassword).status == .found)
            // Success clears the account's count.
            #expect(try await client.submitLogin(form, email: "victim@example.com", password: "wrong once").status == .badRequest)
            #expect(try await client.submitLogin(form, email: "victim@example.com", password: testPassword).status == .found)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func failedLoginsPerSourceAddressAreThrottled(_ engine: DatabaseEngine) async throws {
        let clock = TestClock()
        try await withRawUsersService(
            engine,
            configure: { $0.addressThrottle = LoginThrottle(freeFailures: 4, baseDelay: 30, maxDelay: 900, window: 3600) },
            now: clock.now
        ) { client, service in
            try await createAccount(service, email: "target@example.com")
            let form = try await client.openLoginForm()
            let attacker: HTTPFields = [.forwarded: "for=203.0.113.9;proto=https"]
            // One guess at each of many accounts: no account reaches its bound, the address does.
            for index in 0..<4 {
                let response = try await client.submitLogin(
                    form, email: "user\(index)@example.com", password: "Winter2026!!", headers: attacker)
                #expect(response.status == .badRequest)
            }
            let blocked = try await client.submitLogin(
                form, email: "target@example.com", password: testPassword, headers: attacker)
            #expect(blocked.status == .tooManyRequests)
            #expect(blocked.headers[.retryAfter] == "30")
            // Another address is not held back.
            let elsewhere = try await client.submitLogin(
                form, email: "target@example.com", password: testPassword,
                headers: [.forwarded: "for=198.51.100.7;proto=https"])
            #expect(elsewhere.status == .found)
            // The stored subjects are MACs: no email or address in the table.
            let subjects = try await service.database.read { sql in
                try await sql.select().column("subject").from("login_failures").all()
                    .map { try $0.decode(column: "subject", as: String.self) }
            }
            #expect(!subjects.isEmpty)
            #expect(subjects.allSatisfy { !$0.contains("@") && !$0.contains("203.0.113.9") })
        }
    }
}
