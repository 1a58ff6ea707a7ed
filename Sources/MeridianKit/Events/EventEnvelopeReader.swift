import Foundation

extension EventEnvelope {
    /// Reads a delivered envelope strictly: every member checked, unknown members refused, and a 422 problem
    /// listing every bad field.
    public static func read(_ body: inout FieldReader) throws -> EventEnvelope {
        let id = body.string("id", maxLength: 64)
        if let id, !Identifier.isWellFormed(id, prefix: EventEnvelope.idPrefix) {
            body.fail("id", "must be an event id (evt_ followed by 26 base32 characters)")
        }
        let type = body.string("type", maxLength: 100)
        if let type, !isEventType(type) {
            body.fail("type", "must be dotted lower-case words, like order.paid")
        }
        let occurredAt = body.time("occurred_at")
        let producer = body.string("producer", maxLength: 63)
        if let producer, !isServiceName(producer) {
            body.fail("producer", "must be a service name (lower-case letters, digits and hyphens)")
        }
        let traceparent = body.optionalString("traceparent", maxLength: 256)
        if let traceparent, !TraceContext.isValidTraceparent(traceparent) {
            body.fail("traceparent", "must be a W3C traceparent (00-<trace id>-<parent id>-<flags>)")
        }
        let tracestate = body.optionalString("tracestate", maxLength: 512)
        if let tracestate, !TraceContext.isValidTracestate(tracestate) {
            body.fail("tracestate", "must be a W3C tracestate list")
        }
        if tracestate != nil, traceparent == nil {
            body.fail("tracestate", "is only meaningful with a traceparent")
        }
        var payload: JSONValue?
        switch body.raw("payload") {
        case nil: body.fail("payload", "is required")
        case .object(let members)?: payload = .object(members)
        case let other?: body.fail("payload", "must be an object, not \(other.kindName)")
        }
        try body.finish()
        guard let id, let type, let occurredAt, let producer, let payload else {
            // finish() has thrown for every missing field; this only satisfies the compiler.
            throw Problem.validation([FieldError(field: "", message: "is incomplete")])
        }
        return EventEnvelope(
            id: id, type: type, occurredAt: occurredAt, producer: producer, traceparent: traceparent,
            tracestate: tracestate, payload: payload)
    }

    static func isEventType(_ text: String) -> Bool {
        let words = text.split(separator: ".", omittingEmptySubsequences: false)
        return words.count >= 2
            && words.allSatisfy { word in
                guard let first = word.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
                return word.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
            }
    }

    static func isServiceName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }
}
