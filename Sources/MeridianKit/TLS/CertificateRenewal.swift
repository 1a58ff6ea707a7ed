import Foundation
import Logging
import ServiceLifecycle

/// Keeps the served certificate current while the process runs: every `interval` it renews the development
/// leaf when it is due, or re-reads the configured files. One per process, beside the listeners that share the
/// certificate. A failed attempt keeps the current certificate and is retried at the next interval.
public struct CertificateRenewal: Service {
    let certificate: ServerCertificate
    let interval: Duration
    let logger: Logger

    public init(certificate: ServerCertificate, interval: Duration = .seconds(3600), logger: Logger) {
        self.certificate = certificate
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                renewNow()
            }
        }
    }

    /// One check: what `run` does at each interval.
    public func renewNow(now: Date = Date()) {
        do {
            if try certificate.refresh(now: now) {
                logger.notice(
                    "server certificate replaced",
                    metadata: ["not_valid_after": .string(Timestamp.format(certificate.leaf.notValidAfter))])
            }
        } catch {
            logger.error(
                "server certificate not renewed; the current one stays in service",
                metadata: ["error": .string(String(describing: error))])
        }
    }
}
