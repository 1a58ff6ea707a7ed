import MeridianKit

extension FieldReader {
    /// An array of strings (`redirect_uris`, `permissions`, …); bad elements are reported by index. Nil when the
    /// member is absent (an error too, when `required`) or invalid.
    mutating func strings(_ name: String, required: Bool, maxCount: Int, maxLength: Int = 2000) -> [String]? {
        guard let value = raw(name) else {
            if required { fail(name, "is required") }
            return nil
        }
        guard case .array(let elements) = value else {
            fail(name, "must be an array of strings, not \(value.kindName)")
            return nil
        }
        guard elements.count <= maxCount else {
            fail(name, "must have at most \(maxCount) elements")
            return nil
        }
        var strings: [String] = []
        var failed = false
        for (index, element) in elements.enumerated() {
            guard case .string(let string) = element, (1...maxLength).contains(string.utf8.count) else {
                fail("\(name)[\(index)]", "must be a string of 1 to \(maxLength) bytes")
                failed = true
                continue
            }
            strings.append(string)
        }
        return failed ? nil : strings
    }
}
