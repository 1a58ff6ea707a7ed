import Foundation
import Prometheus

extension ServiceMetrics {
    /// `tls_certificate_expiry_timestamp_seconds`: when the served certificate stops being valid, read at each
    /// scrape, so a renewal (or a renewal that keeps failing) shows at once. The expiry alert watches it.
    public func exportExpiry(of certificate: ServerCertificate) {
        let gauge = registry.makeGauge(
            descriptor: .init(
                metricName: "tls_certificate_expiry_timestamp", unitName: "seconds",
                helpText: "When the served TLS certificate expires, in Unix seconds"))
        refreshBeforeEachScrape { gauge.set(certificate.leaf.notValidAfter.timeIntervalSince1970) }
    }
}
