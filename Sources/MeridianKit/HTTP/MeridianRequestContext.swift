import Hummingbird
import Logging
import NIOCore

/// The request context every Meridian service uses. Carries the request id and the upload limit.
public struct MeridianRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id: the client's `X-Request-Id` when it is sane, otherwise a fresh one.
    public var requestID: String = ""
    /// The client address as the listener saw it.
    public let remoteAddress: SocketAddress?
    public var maxUploadSize: Int { MeridianRequestContext.maxBodySize }
    /// Who is calling, once `AccessControlMiddleware` has verified a bearer token; nil for anonymous calls.
    public var principal: Principal?

    /// Request bodies above this size are refused with 413.
    public static let maxBodySize = 1 << 20

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}

extension Request {
    /// Collects the body up to the context's limit; a larger body is a 413 problem.
    public func collectBody(context: MeridianRequestContext) async throws -> ByteBuffer {
        do {
            var request = self
            return try await request.collectBody(upTo: context.maxUploadSize)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw Problem.bodyTooLarge(limit: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw Problem.bodyTooLarge(limit: context.maxUploadSize)
        }
    }

    /// Reads the body as one strictly validated JSON object.
    public func fieldReader(context: MeridianRequestContext) async throws -> FieldReader {
        if let type = headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            throw Problem(
                .unsupportedMediaType, detail: "Send the body as application/json, not \(type.prefix(100)).")
        }
        let body = try await collectBody(context: context)
        return try FieldReader(json: body.readableBytesView)
    }
}

extension Problem {
    public static func bodyTooLarge(limit: Int) -> Problem {
        Problem(.contentTooLarge, detail: "The request body is larger than \(limit) bytes.")
    }
}
