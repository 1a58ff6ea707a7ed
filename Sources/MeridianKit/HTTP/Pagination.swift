import Foundation
import Hummingbird
import HummingbirdCore

/// Cursor pagination over time-ordered ids: the cursor is the last id of the previous page, base64url-encoded
/// so that clients treat it as opaque.
public struct PageRequest: Sendable {
    public var limit: Int
    /// Items strictly after this id (ascending creation order).
    public var after: String?

    public static let defaultLimit = 50
    public static let maxLimit = 200

    public init(limit: Int = PageRequest.defaultLimit, after: String? = nil) {
        self.limit = limit
        self.after = after
    }

    /// Reads `limit` and `cursor` from the query; bad values are recorded in `query` for its `finish()`.
    public init(reading query: inout QueryReader) {
        let limit = query.int("limit", in: 1...PageRequest.maxLimit) ?? PageRequest.defaultLimit
        var after: String?
        if let cursor = query.raw("cursor") {
            after = PageRequest.decodeCursor(cursor)
            if after == nil { query.fail("cursor", "is not a cursor this API issued") }
        }
        self.init(limit: limit, after: after)
    }

    /// The query parameters every list accepts.
    public static let parameters: Set<String> = ["limit", "cursor"]

    public static func encodeCursor(_ id: String) -> String {
        Data(id.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func decodeCursor(_ cursor: String) -> String? {
        guard !cursor.isEmpty, cursor.count <= 200 else { return nil }
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let id = String(data: data, encoding: .utf8),
            id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        return id
    }

    /// Builds the page from `limit + 1` fetched rows: the extra row only says whether there is a next page.
    public func page<Item: Encodable & Sendable>(_ rows: [Item], id: (Item) -> String) -> Page<Item> {
        guard rows.count > limit else { return Page(data: rows, nextCursor: nil) }
        let data = Array(rows.prefix(limit))
        return Page(data: data, nextCursor: data.last.map { PageRequest.encodeCursor(id($0)) })
    }
}

/// Reads query parameters with validation, collecting errors like `FieldReader` does for bodies.
public struct QueryReader: Sendable {
    private let parameters: [String: String]
    private let known: Set<String>
    public private(set) var errors: [FieldError] = []

    /// `known` lists every parameter the route accepts; any other is an error.
    ///
    /// The query is read as clients write it, `application/x-www-form-urlencoded`: `+` stands for a space.
    /// Python's `requests`, browsers' `URLSearchParams` and HTML forms send `event=Signed Up` as
    /// `event=Signed+Up`, and a literal plus as `%2B`. Hummingbird percent-decodes only (RFC 3986), which left
    /// "Signed+Up", a name that matches nothing.
    public init(_ request: Request, known: Set<String>) {
        var parameters: [String: String] = [:]
        var errors: [FieldError] = []
        for (key, value) in QueryReader.formDecoded(request.uri).queryParameters {
            let name = String(key)
            if parameters[name] != nil { errors.append(FieldError(field: name, message: "is given more than once")) }
            parameters[name] = String(value)
        }
        for name in parameters.keys.sorted() where !known.contains(name) {
            errors.append(FieldError(field: name, message: "is not a known query parameter"))
        }
        self.parameters = parameters
        self.known = known
        self.errors = errors
    }

    public func raw(_ name: String) -> String? { parameters[name] }

    /// An RFC 3339 time. A numeric offset sent unencoded (`+01:00`) arrives as a space once `+` is read
    /// form-style; an RFC 3339 time has no space, so the plus is put back.
    public mutating func time(_ name: String) -> Date? {
        guard let text = parameters[name] else { return nil }
        guard let date = Timestamp.parse(text) ?? Timestamp.parse(text.replacingOccurrences(of: " ", with: "+")) else {
            fail(name, "must be an RFC 3339 time such as 2026-01-31T12:00:00Z")
            return nil
        }
        return date
    }

    static func formDecoded(_ uri: URI) -> URI {
        guard let query = uri.query, query.contains("+") else { return uri }
        return URI(uri.path + "?" + query.replacingOccurrences(of: "+", with: "%20"))
    }

    public mutating func fail(_ name: String, _ message: String) {
        errors.append(FieldError(field: name, message: message))
    }

    public mutating func string(_ name: String, maxLength: Int = 254) -> String? {
        guard let value = parameters[name] else { return nil }
        // Code points, as the OpenAPI document's maxLength counts them.
        if value.isEmpty || value.unicodeScalars.count > maxLength {
            fail(name, "must be 1 to \(maxLength) characters")
            return nil
        }
        return value
    }

    public mutating func int(_ name: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = parameters[name] else { return nil }
        guard let number = Int(value), range.contains(number) else {
            fail(name, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return number
    }

    public mutating func oneOf(_ name: String, _ allowed: [String]) -> String? {
        guard let value = parameters[name] else { return nil }
        guard allowed.contains(value) else {
            fail(name, "must be one of \(allowed.joined(separator: ", "))")
            return nil
        }
        return value
    }

    /// Throws a 400 problem listing every bad and unknown parameter.
    public func finish() throws {
        if !errors.isEmpty { throw Problem.badQuery(errors) }
    }

}
