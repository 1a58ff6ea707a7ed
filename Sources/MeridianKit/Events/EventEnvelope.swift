import Foundation

/// One domain event as it travels between services (DESIGN.md section 8): JSON members `id`, `type`,
/// `occurred_at`, `producer`, `traceparent`, `tracestate` and `payload`.
///
/// The wire form is `jsonValue()`/`serialized()`; receivers read it strictly with `EventEnvelope.read(_:)`
/// (unknown members and malformed values are a 422 listing every bad field).
public struct EventEnvelope: Codable, Sendable, Equatable {
    /// `evt_` followed by a time-ordered ULID: unique across producers, and the key of every inbox.
    public let id: String
    /// `<resource>.<past-tense verb>`, for example `order.paid`.
    public let type: String
    public let occurredAt: Date
    /// The producing service's name.
    public let producer: String
    /// The W3C trace context of the request that caused the event, when it carried one.
    public let traceparent: String?
    public let tracestate: String?
    public let payload: JSONValue

    public static let idPrefix = "evt"

    public init(
        id: String, type: String, occurredAt: Date, producer: String, traceparent: String?, tracestate: String?,
        payload: JSONValue
    ) {
        self.id = id
        self.type = type
        self.occurredAt = occurredAt
        self.producer = producer
        self.traceparent = traceparent
        self.tracestate = tracestate
        self.payload = payload
    }

    enum CodingKeys: String, CodingKey {
        case id, type, producer, traceparent, tracestate, payload
        case occurredAt = "occurred_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        type = try container.decode(String.self, forKey: .type)
        let time = try container.decode(String.self, forKey: .occurredAt)
        guard let occurredAt = Timestamp.parse(time) else {
            throw DecodingError.dataCorruptedError(
                forKey: .occurredAt, in: container, debugDescription: "not an RFC 3339 time")
        }
        self.occurredAt = occurredAt
        producer = try container.decode(String.self, forKey: .producer)
        traceparent = try container.decodeIfPresent(String.self, forKey: .traceparent)
        tracestate = try container.decodeIfPresent(String.self, forKey: .tracestate)
        payload = try container.decode(JSONValue.self, forKey: .payload)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(type, forKey: .type)
        try container.encode(Timestamp.format(occurredAt), forKey: .occurredAt)
        try container.encode(producer, forKey: .producer)
        try container.encode(traceparent, forKey: .traceparent)
        try container.encode(tracestate, forKey: .tracestate)
        try container.encode(EncodableJSONValue(value: payload), forKey: .payload)
    }

    /// The envelope as a JSON object (the wire form); the payload's keys pass through untouched.
    public func jsonValue() -> JSONValue {
        .object([
            "id": .string(id), "type": .string(type), "occurred_at": .string(Timestamp.format(occurredAt)),
            "producer": .string(producer), "traceparent": traceparent.map(JSONValue.string) ?? .null,
            "tracestate": tracestate.map(JSONValue.string) ?? .null, "payload": payload,
        ])
    }

    /// Compact JSON bytes of `jsonValue()`.
    public func serialized() -> [UInt8] { jsonValue().serialized() }
}

/// Encodes a `JSONValue` as itself (the kernel's `JSONValue` is only `Decodable`).
private struct EncodableJSONValue: Encodable {
    let value: JSONValue

    private struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        switch value {
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .bool(let flag):
            var container = encoder.singleValueContainer()
            try container.encode(flag)
        case .integer(let number):
            var container = encoder.singleValueContainer()
            try container.encode(number)
        case .number(let number):
            var container = encoder.singleValueContainer()
            try container.encode(number)
        case .string(let text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case .array(let elements):
            var container = encoder.unkeyedContainer()
            for element in elements { try container.encode(EncodableJSONValue(value: element)) }
        case .object(let members):
            var container = encoder.container(keyedBy: Key.self)
            for (key, member) in members { try container.encode(EncodableJSONValue(value: member), forKey: Key(stringValue: key)) }
        }
    }
}
