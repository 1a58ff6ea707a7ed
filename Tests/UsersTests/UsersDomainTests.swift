import Testing

@testable import Users

@Suite struct UsersDomainTests {
    @Test func emailIsKeptAsGivenAndComparedLowerCased() throws {
        let email = try EmailAddress.parse("Ada.Lovelace@Example.COM").get()
        #expect(email.value == "Ada.Lovelace@Example.COM")
        #expect(email.normalized == "ada.lovelace@example.com")
        #expect(EmailAddress.normalize("BOB@X.IO") == "bob@x.io")
    }

    @Test(arguments: [
        ("ab", "must be 3 to 254 characters"),
        ("a b@example.com", "must not contain spaces or control characters"),
        ("a\u{0}b@example.com", "must not contain spaces or control characters"),
        ("a@b@c.com", "must contain exactly one @"),
        ("example.com", "must contain exactly one @"),
        ("@example.com", "must have a name before the @"),
        ("ada@localhost", "must have a domain with a dot after the @, like example.com"),
        ("ada@example.", "must have a domain with a dot after the @, like example.com"),
    ])
    func invalidEmailsSayWhy(_ text: String, _ message: String) {
        #expect(throws: EmailAddress.Invalid(message: message)) { try EmailAddress.parse(text).get() }
    }

    @Test func passwordPolicyCountsBytes() {
        #expect(PasswordPolicy.problem(with: String(repeating: "x", count: 12)) == nil)
        #expect(PasswordPolicy.problem(with: String(repeating: "x", count: 72)) == nil)
        #expect(PasswordPolicy.problem(with: String(repeating: "x", count: 11)) != nil)
        #expect(PasswordPolicy.problem(with: String(repeating: "x", count: 73)) != nil)
        // 4 characters but 16 bytes.
        #expect(PasswordPolicy.problem(with: "🔑🔑🔑🔑") == nil)
        #expect(PasswordPolicy.problem(with: "twelve bytes\u{0}") == "must not contain NUL characters")
        #expect(PasswordPolicy.problem(with: String(repeating: "€", count: 25))?.contains("bcrypt") == true)
    }

    @Test func nameRules() {
        #expect(PersonName.problem(with: "Ada") == nil)
        #expect(PersonName.problem(with: "") != nil)
        #expect(PersonName.problem(with: " \t ") == "must not be blank")
        #expect(PersonName.problem(with: "Ada\r\nBcc: x") != nil)
        #expect(PersonName.problem(with: String(repeating: "é", count: 200)) == nil)
        #expect(PersonName.problem(with: String(repeating: "é", count: 201)) != nil)
    }

    @Test func bcryptCostComesFromTheEnvironmentWithinBounds() throws {
        #expect(try PasswordHasher.cost(environment: [:]) == 12)
        #expect(try PasswordHasher.cost(environment: ["MERIDIAN_BCRYPT_COST": "4"]) == 4)
        #expect(try PasswordHasher.cost(environment: ["MERIDIAN_BCRYPT_COST": "31"]) == 31)
        for bad in ["3", "32", "twelve", ""] {
            #expect(throws: PasswordHasher.InvalidCost.self) {
                try PasswordHasher.cost(environment: ["MERIDIAN_BCRYPT_COST": bad])
            }
        }
        #expect(throws: PasswordHasher.InvalidCost.self) { try PasswordHasher(cost: 3) }
    }

    @Test func hasherHashesAtItsCostAndVerifies() async throws {
        let hasher = try PasswordHasher(cost: 5)
        let hash = try await hasher.hash("correct horse battery")
        #expect(hash.hasPrefix("$2b$05$"))
        #expect(try await hasher.verify("correct horse battery", hash: hash))
        #expect(try await !hasher.verify("correct horse batterx", hash: hash))
        // Salted: the same password never hashes the same twice.
        #expect(try await hasher.hash("correct horse battery") != hash)
    }
}
