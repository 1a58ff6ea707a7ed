import MeridianKit

/// The body of `POST /api/users`, validated: every bad field is reported at once.
struct NewUserInput {
    let email: EmailAddress
    let name: String
    let password: String

    init(reading body: inout FieldReader) throws {
        let email = UserFields.email(&body, required: true)
        let name = UserFields.name(&body, required: true)
        let password = UserFields.password(&body, required: true)
        try body.finish()
        // finish() passed, so every reader above returned a value; this guard only satisfies the compiler.
        guard let email, let name, let password else { throw Problem.validation(body.errors) }
        self.email = email
        self.name = name
        self.password = password
    }
}

/// The body of `PATCH /api/users/{id}`: any of the three fields, at least one.
struct UserPatchInput {
    let email: EmailAddress?
    let name: String?
    let password: String?

    static let fields = ["email", "name", "password"]

    init(reading body: inout FieldReader) throws {
        if !UserPatchInput.fields.contains(where: body.has) {
            for field in UserPatchInput.fields {
                body.fail(field, "send at least one of email, name and password")
            }
        }
        email = UserFields.email(&body, required: false)
        name = UserFields.name(&body, required: false)
        password = UserFields.password(&body, required: false)
        try body.finish()
    }
}

/// Field readers shared by create and update, so both apply the same rules with the same messages.
enum UserFields {
    static func email(_ body: inout FieldReader, required: Bool) -> EmailAddress? {
        guard let text = string(&body, "email", required: required) else { return nil }
        switch EmailAddress.parse(text) {
        case .success(let email): return email
        case .failure(let invalid):
            body.fail("email", invalid.message)
            return nil
        }
    }

    static func name(_ body: inout FieldReader, required: Bool) -> String? {
        guard let name = string(&body, "name", required: required) else { return nil }
        if let problem = PersonName.problem(with: name) {
            body.fail("name", problem)
            return nil
        }
        return name
    }

    static func password(_ body: inout FieldReader, required: Bool) -> String? {
        guard let password = string(&body, "password", required: required) else { return nil }
        if let problem = PasswordPolicy.problem(with: password) {
            body.fail("password", problem)
            return nil
        }
        return password
    }

    /// A string member, its length left to the domain rules (which know whether they count characters or
    /// bytes). No user field can be cleared, so null is an error even where the field is optional.
    private static func string(_ body: inout FieldReader, _ name: String, required: Bool) -> String? {
        if required { return body.string(name, minLength: 0, maxLength: .max) }
        if body.has(name), body.raw(name) == nil {
            body.fail(name, "must be a string, not null")
            return nil
        }
        return body.optionalString(name, minLength: 0, maxLength: .max)
    }
}
