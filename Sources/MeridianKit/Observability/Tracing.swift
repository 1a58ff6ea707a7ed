import Foundation
import Logging
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// The process's tracer: OpenTelemetry spans exported over OTLP/HTTP (protobuf) when an OTLP endpoint is
/// configured, and none at all otherwise, so a laptop run pays nothing for tracing.
///
/// The standard `OTEL_*` variables apply: `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) turns exporting on,
/// `OTEL_SERVICE_NAME` names the process, `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` choose the sampler
/// (default: parent-based, every root sampled, so a trace started upstream is kept or dropped as a whole).
///
/// Where spans come from: `Platform.run` calls `bootstrap` (once per process) and runs the exporter, which flushes
/// at shutdown; `TracedRouter` gives every service's requests a server span; the gateway's proxy and the outbox
/// dispatcher make client spans (`OutboundHTTPSpan`); `EventConsumptionSpan` continues an event's stored trace in
/// its consumer. Log lines carry `trace_id`/`span_id` through `loggingMetadataProvider`.
public enum TracingSetup {
    /// The endpoint variables that turn exporting on.
    static let endpointVariables = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]

    /// Whether `environment` asks for traces to be exported.
    public static func isEnabled(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        endpointVariables.contains { !(environment[$0] ?? "").isEmpty }
            && (environment["OTEL_TRACES_EXPORTER"] ?? "otlp") != "none"
    }

    /// Installs the process-wide tracer once, before any service starts. Returns the exporter's background
    /// service (which flushes pending spans at shutdown) to run beside the services, or nil when exporting is off.
    public static func bootstrap(
        serviceName: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> (any Service)? {
        guard isEnabled(environment: environment) else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.traces.sampler = .parentBasedTraceIDRatio
        // Logs and metrics have their own paths (JSON lines, Prometheus); only traces go over OTLP.
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        // The OTEL_* environment overrides these defaults inside makeTracingBackend.
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        exporting.store(true, ordering: .releasing)
        return backend.service
    }

    /// Whether `bootstrap` installed an exporting tracer; until then server spans are skipped altogether.
    public static var isExporting: Bool { exporting.load(ordering: .acquiring) }
    private static let exporting = Atomic<Bool>(false)

    /// Adds `trace_id` and `span_id` of the current span to every log line written inside it.
    public static let loggingMetadataProvider: Logger.MetadataProvider = OTel.makeLoggingMetadataProvider()
}
