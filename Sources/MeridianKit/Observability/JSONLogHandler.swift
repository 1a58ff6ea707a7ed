import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// Writes one JSON object per line to standard output: `timestamp`, `level`, `service`, `message`, then the
/// metadata (`request_id`, `trace_id`, …). Callers must never put secrets or personal data in metadata.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    /// Adds context metadata at each call, such as the current span's `trace_id` and `span_id`.
    public var metadataProvider: Logger.MetadataProvider?
    private let service: String

    private static let output = Mutex(())

    public init(label: String, level: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil) {
        self.service = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    /// Routes every `Logger` of the process to JSON lines at `level`; inside a span, lines carry its trace and
    /// span ids.
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap(
            { label, provider in JSONLogHandler(label: label, level: level, metadataProvider: provider) },
            metadataProvider: TracingSetup.loggingMetadataProvider)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: JSONValue] = [
            "timestamp": .string(Timestamp.format(Date())),
            "level": .string(event.level.rawValue),
            "service": .string(service),
            "message": .string(event.message.description),
        ]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged where object[key] == nil {
            object[key] = JSONLogHandler.json(value)
        }
        var line = JSONValue.object(object).serialized()
        line.append(UInt8(ascii: "\n"))
        JSONLogHandler.output.withLock { _ in
            line.withUnsafeBufferPointer { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let string): .string(string)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let dictionary): .object(dictionary.mapValues(json))
        }
    }
}
