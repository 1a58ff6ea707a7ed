import HTTPTypes
import Hummingbird
import Logging

extension HTTPField.Name {
    public static let requestID = HTTPField.Name("X-Request-Id")!
    public static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    public static let forwarded = HTTPField.Name("Forwarded")!
    public static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}

/// Keeps the client's `X-Request-Id` when it is sane (1–128 visible ASCII characters, no quotes), otherwise makes
/// one; puts it in the logger's metadata and echoes it on the response.
public struct RequestIDMiddleware: RouterMiddleware {
    public typealias Context = MeridianRequestContext

    public init() {}

    public static func isSane(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 128
            && value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let incoming = request.headers[.requestID]
        let id = incoming.flatMap { RequestIDMiddleware.isSane($0) ? $0 : nil } ?? Identifier.make(prefix: "req")
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        context.logger[metadataKey: "hb.request.id"] = nil
        var response = try await next(request, context)
        response.headers[.requestID] = id
        return response
    }
}
