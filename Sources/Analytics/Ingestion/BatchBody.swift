import Foundation
import Hummingbird
import NIOCore
import MeridianKit

/// Reads a batch request's body: at most `BatchLimits.maxBytes` (413 beyond), JSON (415 otherwise), an object.
enum BatchBody {
    static func read(_ request: Request, context: MeridianRequestContext) async throws -> [String: JSONValue] {
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            throw Problem(.unsupportedMediaType, detail: "Send the body as application/json, not \(type.prefix(100)).")
        }
        let body: ByteBuffer
        do {
            var request = request
            body = try await request.collectBody(upTo: BatchLimits.maxBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw Problem.batchTooLarge("The batch is larger than \(BatchLimits.maxBytes) bytes.")
        } catch is NIOTooManyBytesError {
            throw Problem.batchTooLarge("The batch is larger than \(BatchLimits.maxBytes) bytes.")
        }
        guard body.readableBytes > 0 else { throw Problem.malformedJSON("The request body is empty; a JSON object is required.") }
        let value = try JSONValue.parse(body.readableBytesView)
        guard case .object(let members) = value else {
            throw Problem.malformedJSON("The request body must be a JSON object, not \(value.kindName).")
        }
        return members
    }

    /// The batch's array member; 413 above `BatchLimits.maxEvents` elements.
    static func elements(_ members: [String: JSONValue], key: String) throws -> [JSONValue] {
        guard let value = members[key] else {
            throw Problem.validation([FieldError(field: key, message: "is required")])
        }
        guard case .array(let elements) = value else {
            throw Problem.validation([FieldError(field: key, message: "must be an array, not \(value.kindName)")])
        }
        if elements.count > BatchLimits.maxEvents {
            throw Problem.batchTooLarge("The batch has \(elements.count) events; at most \(BatchLimits.maxEvents) are accepted.")
        }
        return elements
    }

    /// An optional RFC 3339 time member of the batch (`sent_at`).
    static func time(_ members: [String: JSONValue], key: String) throws -> Date? {
        guard let value = members[key], value != .null else { return nil }
        guard case .string(let text) = value, let date = Timestamp.parse(text) else {
            throw Problem.validation([FieldError(field: key, message: "must be an RFC 3339 time")])
        }
        return date
    }
}

extension Problem {
    static func batchTooLarge(_ detail: String) -> Problem {
        Problem(.contentTooLarge, type: Problem.typeBase + "batch-too-large", title: "Batch too large", detail: detail)
    }
}
