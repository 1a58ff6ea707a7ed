import Foundation
import Logging
import MeridianKit
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Runs services in one `ServiceGroup`: SIGTERM or SIGINT drains them gracefully, the gateway first so no new
/// request reaches a service that is stopping.
enum Platform {
    /// How long graceful shutdown may take before the services still running are cancelled.
    static let maximumGracefulShutdown: Duration = .seconds(40)

    static let shutdownSignals: [UnixSignal] = [.sigterm, .sigint]

    /// Runs `units` until a signal; logs each listener and, once all listen, one line with the public URL (and
    /// the CA certificate to trust). With `tls`, every listener serves HTTPS and the certificate is renewed.
    static func run(
        _ units: [ServiceUnit], publicService: ServiceName, tls: PlatformTLS? = nil, logger: Logger
    ) async throws {
        tls?.announce(logger)
        let tracing = try Platform.bootstrapTracing(units, publicService: publicService, logger: logger)
        let scheme = tls == nil ? "http" : "https"
        let startup = Startup(expected: units.count)
        // The group stops services in reverse order: the public entry goes last in the list.
        let ordered = units.filter { $0.name != publicService } + units.filter { $0.name == publicService }
        let applications = ordered.map { unit in
            unit.makeApplication { port in
                let address = ListenAddress(host: unit.settings.listen.host, port: port)
                logger.info(
                    "service listening",
                    metadata: ["listener": .string(unit.name.rawValue), "url": .string("\(scheme)://\(address)")])
                if unit.name == publicService { startup.publicURL("\(scheme)://\(address)") }
                if let url = startup.serviceRunning() {
                    var metadata: Logger.Metadata = ["url": .string(url)]
                    if let ca = tls?.caCertificatePath {
                        metadata["ca_certificate"] = .string(ca)
                        metadata["try"] = .string("curl --cacert \(ca) \(url)/healthz")
                    }
                    logger.info("meridian is ready", metadata: metadata)
                }
            }
        }
        // The renewal first in the list, so it stops last; before it the span exporter, which flushes the spans
        // of the drained services when it stops.
        let services: [any Service] = (tracing.map { [$0] } ?? []) + (tls.map { [$0.renewal] } ?? []) + applications
        var configuration = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: shutdownSignals, logger: logger)
        // A service still draining after this long is cancelled, so a stuck one cannot hold the process past
        // Kubernetes' 45 s grace period (deploy/kubernetes) and be killed without the others having stopped.
        configuration.maximumGracefulShutdownDuration = Platform.maximumGracefulShutdown
        let group = ServiceGroup(configuration: configuration)
        do {
            try await group.run()
        } catch {
            throw ConfigurationError(description: "meridian stopped: \(Settings.oneLine(String(describing: error)))")
        }
        logger.info("meridian stopped")
    }

    /// Installs the process's tracer when `OTEL_EXPORTER_OTLP_ENDPOINT` asks for traces; returns the exporter to
    /// run. The process is one OpenTelemetry service: `meridian` for `serve`, `meridian-<service>` alone.
    static func bootstrapTracing(
        _ units: [ServiceUnit], publicService: ServiceName, logger: Logger
    ) throws -> (any Service)? {
        let name = units.count == 1 ? "meridian-\(publicService.rawValue)" : "meridian"
        let exporter: (any Service)?
        do {
            exporter = try TracingSetup.bootstrap(serviceName: name)
        } catch {
            throw ConfigurationError(
                description: "cannot export traces: \(Settings.oneLine(String(describing: error))) (OTEL_* settings)")
        }
        if exporter != nil { logger.info("exporting traces over OTLP/HTTP", metadata: ["trace_service": .string(name)]) }
        return exporter
    }

    /// Applies the migrations of one service with its database running, then stops the database.
    static func migrate(_ unit: ServiceUnit, logger: Logger) async throws {
        guard let database = unit.database else { return }
        let migration = MigrationRun(migrate: unit.migrate)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: database),
                    .init(service: migration, successTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: shutdownSignals, logger: logger))
        do {
            try await group.run()
        } catch {
            throw ConfigurationError(
                description: "migrating \(unit.name.rawValue) failed: \(Settings.oneLine(String(describing: error)))")
        }
        logger.info("migrations complete", metadata: ["migrated": .string(unit.name.rawValue)])
    }
}

/// Runs a service's migrations as a service of its own, beside the database it needs.
struct MigrationRun: Service {
    let migrate: @Sendable () async throws -> Void
    func run() async throws { try await migrate() }
}

/// Counts listeners until all are up, so the "ready" line comes once, after the last one.
final class Startup: Sendable {
    private struct State {
        var remaining: Int
        var url: String?
    }
    private let state: Mutex<State>

    init(expected: Int) { state = Mutex(State(remaining: expected)) }

    func publicURL(_ url: String) { state.withLock { $0.url = url } }

    /// The public URL when this was the last service to start, otherwise nil.
    func serviceRunning() -> String? {
        state.withLock { state in
            state.remaining -= 1
            return state.remaining == 0 ? state.url : nil
        }
    }
}
