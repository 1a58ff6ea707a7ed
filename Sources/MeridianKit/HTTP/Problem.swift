import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// One invalid field of a request, as listed in a validation problem.
public struct FieldError: Codable, Sendable, Equatable {
    public var field: String
    public var message: String
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}

/// An RFC 9457 problem. Every 4xx and 5xx response of Meridian carries one as `application/problem+json`.
public struct Problem: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var type: String
    public var title: String
    public var detail: String?
    public var errors: [FieldError]
    public var headers: HTTPFields
    /// Extra members (for example `current_status` on an illegal transition).
    public var extensions: [String: String]

    public init(
        _ status: HTTPResponse.Status,
        type: String? = nil,
        title: String? = nil,
        detail: String? = nil,
        errors: [FieldError] = [],
        headers: HTTPFields = [:],
        extensions: [String: String] = [:]
    ) {
        self.status = status
        self.type = type ?? Problem.typeURI(for: status)
        self.title = title ?? status.reasonPhrase
        self.detail = detail
        self.errors = errors
        self.headers = headers
        self.extensions = extensions
    }

    public static let contentType = "application/problem+json"
    /// Problem `type` URIs are this base plus a slug naming the problem.
    public static let typeBase = "https://meridian.dev/problems/"

    static func typeURI(for status: HTTPResponse.Status) -> String {
        let slug = status.reasonPhrase.lowercased()
            .map { $0.isLetter || $0.isNumber ? $0 : "-" }
        return typeBase + String(slug)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        makeResponse()
    }

    public func makeResponse() -> Response {
        var fields = headers
        fields[.contentType] = Problem.contentType
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: serializedBody())))
    }

    /// The problem document (RFC 9457) as JSON.
    func serializedBody() -> [UInt8] {
        var body: [String: JSONValue] = [
            "type": .string(type),
            "title": .string(title),
            "status": .number(Double(status.code)),
        ]
        if let detail { body["detail"] = .string(detail) }
        if !errors.isEmpty {
            body["errors"] = .array(errors.map { .object(["field": .string($0.field), "message": .string($0.message)]) })
        }
        for (key, value) in extensions where body[key] == nil { body[key] = .string(value) }
        return Array(JSONValue.object(body).serialized())
    }
}

extension Problem {
    public static func validation(_ errors: [FieldError]) -> Problem {
        Problem(
            .unprocessableContent, type: typeBase + "validation", title: "Validation failed",
            detail: "The request body has \(errors.count) invalid field\(errors.count == 1 ? "" : "s").",
            errors: errors)
    }

    public static func malformedJSON(_ detail: String) -> Problem {
        Problem(.badRequest, type: typeBase + "malformed-json", title: "Malformed JSON", detail: detail)
    }

    public static func notFound(_ what: String) -> Problem {
        Problem(.notFound, detail: "\(what) was not found.")
    }

    public static func conflict(_ detail: String, extensions: [String: String] = [:]) -> Problem {
        Problem(.conflict, detail: detail, extensions: extensions)
    }

    public static func badQuery(_ errors: [FieldError]) -> Problem {
        Problem(
            .badRequest, type: typeBase + "invalid-query", title: "Invalid query parameters",
            detail: "The query string has \(errors.count) invalid parameter\(errors.count == 1 ? "" : "s").",
            errors: errors)
    }
}
