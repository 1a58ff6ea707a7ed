import NIOCore

/// The client's request body on its way upstream, refused once it grows past the gateway's limit. Counting
/// while streaming catches chunked bodies, which announce no length.
struct LimitedBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer

    let base: Base
    let limit: Int
    /// Lets the proxy stop the upload and wait for it before the server reads the rest of the body itself.
    let gate: UploadGate

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let limit: Int
        let gate: UploadGate
        var received = 0

        mutating func next() async throws -> ByteBuffer? {
            guard gate.beginPull() else { return nil }
            let buffer: ByteBuffer?
            do {
                buffer = try await base.next()
                gate.endPull()
            } catch {
                gate.endPull()
                throw error
            }
            guard let buffer else { return nil }
            received += buffer.readableBytes
            if received > limit { throw RequestBodyTooLarge(limit: limit) }
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), limit: limit, gate: gate)
    }
}

/// The request body went past the gateway's limit.
struct RequestBodyTooLarge: Error {
    let limit: Int
}
