import AsyncHTTPClient
import Foundation
import Logging
import MeridianKit
import NIOCore
import ServiceLifecycle

/// How the reports to analytics (usage records, refused requests) are buffered, batched and sent.
public struct ReportOptions: Sendable {
    /// Records held while analytics is slow or down; beyond it, records are dropped and counted.
    public var bufferCapacity: Int
    /// Records per batch (the contract allows at most 1000).
    public var batchSize: Int
    /// How often the buffer is sent when it fills slower than a batch.
    public var flushInterval: Duration
    /// How long one batch may take to be accepted.
    public var sendTimeout: Duration
    /// The bearer token for `analytics:write` (a client-credentials token, `ServiceTokenProvider`); nil sends
    /// no Authorization header, which analytics refuses: the records are then counted as dropped.
    public var token: (@Sendable () async throws -> String)?

    public init(
        bufferCapacity: Int = 10_000, batchSize: Int = 1000, flushInterval: Duration = .seconds(1),
        sendTimeout: Duration = .seconds(5), token: (@Sendable () async throws -> String)? = nil
    ) {
        self.bufferCapacity = bufferCapacity
        self.batchSize = min(max(1, batchSize), 1000)
        self.flushInterval = flushInterval
        self.sendTimeout = sendTimeout
        self.token = token
    }
}

/// Sends one buffer's records to analytics in batches, off the request path: the usage records, and the
/// requests the gateway refused (for analytics' audit log). A batch analytics does not accept (unreachable,
/// refused, timed out) is dropped and counted, never retried into a growing backlog: the reports must not
/// compete with the requests they describe.
struct AnalyticsReporter<Record: Sendable>: Service {
    /// Takes up to the given number of the oldest waiting records.
    let drain: @Sendable (Int) -> [Record]
    let options: ReportOptions
    let analytics: ServiceClient
    /// The internal ingestion route: `UsageRecord.path` or `DeniedRequests.path`.
    let path: String
    /// The batch's JSON body.
    let encode: @Sendable ([Record]) -> [UInt8]
    let counters: ReportCounters
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: options.flushInterval)
                await flush()
            }
        }
        // What arrived before shutdown still goes out once.
        await flush()
    }

    /// Sends everything buffered now, a batch at a time.
    func flush() async {
        while true {
            let batch = drain(options.batchSize)
            if batch.isEmpty { return }
            await send(batch)
            if batch.count < options.batchSize { return }
        }
    }

    func send(_ batch: [Record]) async {
        do {
            var headers: [(String, String)] = []
            if let token = options.token { headers.append(("Authorization", "Bearer " + (try await token()))) }
            let reply = try await analytics.send(.POST, path, headers: headers, body: ByteBuffer(bytes: encode(batch)))
            guard reply.status == 202 || reply.status == 200 else {
                counters.batchFailures.increment()
                counters.dropped.increment(by: batch.count)
                logger.warning(
                    "report batch refused",
                    metadata: ["path": .string(path), "status": "\(reply.status)", "records": "\(batch.count)"])
                return
            }
            counters.sent.increment(by: batch.count)
        } catch {
            counters.batchFailures.increment()
            counters.dropped.increment(by: batch.count)
            logger.warning(
                "report batch not sent",
                metadata: [
                    "path": .string(path), "error": "\(String(reflecting: type(of: error)))",
                    "records": "\(batch.count)",
                ])
        }
    }
}

/// The counters of one kind of report: taken into the buffer, dropped (buffer full, or analytics refused or
/// was unreachable), accepted by analytics, and batches analytics did not accept.
struct ReportCounters: Sendable {
    let recorded: MetricCounter
    let dropped: MetricCounter
    let sent: MetricCounter
    let batchFailures: MetricCounter

    /// `gateway_<kind>_records`, `…_records_dropped`, `…_records_sent` and `gateway_<kind>_batch_failures`.
    init(_ service: ServiceMetrics, kind: String, noun: String) {
        recorded = service.makeCounter("gateway_\(kind)_records", help: "\(noun) taken into the buffer")
        dropped = service.makeCounter(
            "gateway_\(kind)_records_dropped",
            help: "\(noun) dropped (buffer full, or analytics refused or unreachable)")
        sent = service.makeCounter("gateway_\(kind)_records_sent", help: "\(noun) accepted by analytics")
        batchFailures = service.makeCounter(
            "gateway_\(kind)_batch_failures", help: "Batches of \(noun.lowercased()) analytics did not accept")
    }
}
