import Foundation

/// Reads the members of one JSON object with validation, collecting every problem instead of stopping at the
/// first, and rejecting members nobody asked for. Call `finish()` (or `validated`) once all fields are read.
///
///     var body = try FieldReader(json: bytes)
///     let email = body.string("email", maxLength: 254)
///     let name = body.optionalString("name")
///     try body.finish()
public struct FieldReader {
    public let path: String
    private let members: [String: JSONValue]
    private var consumed: Set<String> = []
    public private(set) var errors: [FieldError] = []

    /// Parses a request body that must be a JSON object.
    public init(json bytes: some Collection<UInt8>) throws {
        guard !bytes.isEmpty else { throw Problem.malformedJSON("The request body is empty; a JSON object is required.") }
        let value = try JSONValue.parse(bytes)
        guard case .object(let members) = value else {
            throw Problem.malformedJSON("The request body must be a JSON object, not \(value.kindName).")
        }
        self.init(members: members, path: "")
    }

    public init(members: [String: JSONValue], path: String) {
        self.members = members
        self.path = path
    }

    public func field(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    public mutating func fail(_ name: String, _ message: String) {
        errors.append(FieldError(field: field(name), message: message))
    }

    public mutating func merge(_ other: [FieldError]) { errors.append(contentsOf: other) }

    public func has(_ name: String) -> Bool { members[name] != nil }

    /// The raw value; absent and null are both nil. Marks the member as known.
    public mutating func raw(_ name: String) -> JSONValue? {
        consumed.insert(name)
        guard let value = members[name], value != .null else { return nil }
        return value
    }

    public mutating func string(_ name: String, minLength: Int = 1, maxLength: Int = 1000) -> String? {
        guard let value = raw(name) else {
            fail(name, "is required")
            return nil
        }
        return checkString(name, value, minLength: minLength, maxLength: maxLength)
    }

    public mutating func optionalString(_ name: String, minLength: Int = 0, maxLength: Int = 1000) -> String? {
        guard let value = raw(name) else { return nil }
        return checkString(name, value, minLength: minLength, maxLength: maxLength)
    }

    private mutating func checkString(_ name: String, _ value: JSONValue, minLength: Int, maxLength: Int) -> String? {
        guard case .string(let string) = value else {
            fail(name, "must be a string, not \(value.kindName)")
            return nil
        }
        // Code points, as JSON Schema's minLength/maxLength count them (not Swift's grapheme clusters, which
        // fold any number of combining marks into one character).
        let length = string.unicodeScalars.count
        if length < minLength {
            fail(name, minLength == 1 ? "must not be empty" : "must be at least \(minLength) characters")
            return nil
        }
        if length > maxLength {
            fail(name, "must be at most \(maxLength) characters")
            return nil
        }
        if string.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" }) {
            fail(name, "must not contain control characters")
            return nil
        }
        return string
    }

    public mutating func integer(_ name: String, in range: ClosedRange<Int64>) -> Int64? {
        guard let value = raw(name) else {
            fail(name, "is required")
            return nil
        }
        return checkInteger(name, value, in: range)
    }

    public mutating func optionalInteger(_ name: String, in range: ClosedRange<Int64>) -> Int64? {
        guard let value = raw(name) else { return nil }
        return checkInteger(name, value, in: range)
    }

    private mutating func checkInteger(_ name: String, _ value: JSONValue, in range: ClosedRange<Int64>) -> Int64? {
        guard case .integer(let number) = value else {
            fail(name, "must be an integer, not \(value.kindName)")
            return nil
        }
        guard range.contains(number) else {
            fail(name, "must be between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return number
    }

    /// A required RFC 3339 time (`Timestamp.parse`: strict, any offset).
    public mutating func time(_ name: String) -> Date? {
        guard let text = string(name, maxLength: 40) else { return nil }
        guard let date = Timestamp.parse(text) else {
            fail(name, "must be an RFC 3339 time")
            return nil
        }
        return date
    }

    public mutating func bool(_ name: String) -> Bool? {
        guard raw(name) != nil else {
            fail(name, "is required")
            return nil
        }
        return optionalBool(name)
    }

    public mutating func optionalBool(_ name: String) -> Bool? {
        guard let value = raw(name) else { return nil }
        guard case .bool(let flag) = value else {
            fail(name, "must be a boolean, not \(value.kindName)")
            return nil
        }
        return flag
    }

    /// A nested object, read with its own reader; its errors and unknown members join this one's.
    public mutating func object<T>(_ name: String, required: Bool = true, _ read: (inout FieldReader) -> T?) -> T? {
        guard let value = raw(name) else {
            if required { fail(name, "is required") }
            return nil
        }
        guard case .object(let members) = value else {
            fail(name, "must be an object, not \(value.kindName)")
            return nil
        }
        var nested = FieldReader(members: members, path: field(name))
        let result = read(&nested)
        nested.rejectUnknown()
        merge(nested.errors)
        return nested.errors.isEmpty ? result : nil
    }

    /// An array of objects, each read with its own reader (`items[2].quantity`).
    public mutating func objects<T>(
        _ name: String, minCount: Int = 0, maxCount: Int, _ read: (inout FieldReader) -> T?
    ) -> [T]? {
        guard let value = raw(name) else {
            fail(name, "is required")
            return nil
        }
        guard case .array(let elements) = value else {
            fail(name, "must be an array, not \(value.kindName)")
            return nil
        }
        if elements.count < minCount {
            fail(name, minCount == 1 ? "must not be empty" : "must have at least \(minCount) elements")
            return nil
        }
        if elements.count > maxCount {
            fail(name, "must have at most \(maxCount) elements")
            return nil
        }
        var results: [T] = []
        var failed = false
        for (index, element) in elements.enumerated() {
            let elementPath = "\(field(name))[\(index)]"
            guard case .object(let members) = element else {
                errors.append(FieldError(field: elementPath, message: "must be an object, not \(element.kindName)"))
                failed = true
                continue
            }
            var nested = FieldReader(members: members, path: elementPath)
            let result = read(&nested)
            nested.rejectUnknown()
            merge(nested.errors)
            if let result, nested.errors.isEmpty { results.append(result) } else { failed = true }
        }
        return failed ? nil : results
    }

    mutating func rejectUnknown() {
        for key in members.keys.sorted() where !consumed.contains(key) {
            errors.append(FieldError(field: field(key), message: "is not a known field"))
        }
    }

    /// Throws a validation problem listing every bad and unknown field, if there is any.
    public mutating func finish() throws {
        rejectUnknown()
        if !errors.isEmpty { throw Problem.validation(errors) }
    }
}
