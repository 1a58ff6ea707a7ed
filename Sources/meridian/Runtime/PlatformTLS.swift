import Foundation
import Logging
import MeridianKit

/// The process's TLS, decided once before any service is built: the certificate every listener presents, the
/// renewal that keeps it current, and the CA that internal clients trust (`PlatformTrust`).
struct PlatformTLS: Sendable {
    let certificate: ServerCertificate
    let renewal: CertificateRenewal
    /// The CA certificate clients should trust (generated or `--tls-ca`); nil when the system's roots serve.
    let caCertificatePath: String?
    let isDevelopmentCA: Bool

    /// Configured files when given, else the development CA in `<data-dir>/tls`, whose leaf is valid for
    /// `hosts` and the loopback names.
    static func load(_ settings: Settings, hosts: [String], logger: Logger) throws -> PlatformTLS {
        let certificateFile = settings.string("tls.cert.file")
        let keyFile = settings.string("tls.key.file")
        var caFile = settings.string("tls.ca.file")
        let source: ServerCertificate.Source
        var isDevelopmentCA = false
        switch (certificateFile, keyFile) {
        case (let certificate?, let key?):
            source = .files(certificate: certificate, privateKey: key)
        case (nil, nil):
            let directory = (settings.dataDirectory as NSString).appendingPathComponent("tls")
            var names = ServerNames(hosts)
            for host in (settings.string("tls.hosts") ?? "").split(separator: ",") { names.add(String(host)) }
            let ca: DevelopmentCA
            do { ca = try DevelopmentCA.loadOrCreate(in: directory) } catch {
                throw ConfigurationError(description: "development CA: \(error)")
            }
            if caFile == nil { caFile = ca.certificatePath }
            isDevelopmentCA = true
            source = .development(ca, names: names, directory: directory)
        default:
            throw ConfigurationError(
                description: "--tls-cert and --tls-key (MERIDIAN_TLS_CERT_FILE, MERIDIAN_TLS_KEY_FILE) go together")
        }
        let certificate: ServerCertificate
        do { certificate = try ServerCertificate(source: source) } catch {
            throw ConfigurationError(description: "TLS certificate: \(error)")
        }
        if let caFile {
            do { try PlatformTrust.trust(caCertificateFile: caFile) } catch {
                throw ConfigurationError(description: "--tls-ca / MERIDIAN_TLS_CA_FILE: \(error)")
            }
        }
        return PlatformTLS(
            certificate: certificate, renewal: CertificateRenewal(certificate: certificate, logger: logger),
            caCertificatePath: caFile, isDevelopmentCA: isDevelopmentCA)
    }

    /// `serve`: one certificate for the gateway's address, the issuer's host and loopback (the services).
    static func forServe(_ settings: Settings, logger: Logger) throws -> PlatformTLS {
        let listen = try settings.listen(
            default: ListenAddress(host: "127.0.0.1", port: ServiceName.gateway.defaultPort))
        let issuer = try settings.issuer(default: Settings.issuer(servingAt: listen))
        return try load(settings, hosts: [listen.host] + [host(of: issuer)].compactMap { $0 }, logger: logger)
    }

    /// One service alone: its listen address and the issuer's host.
    static func forService(_ settings: Settings, listen: ListenAddress, issuer: String, logger: Logger) throws
        -> PlatformTLS
    {
        try load(settings, hosts: [listen.host] + [host(of: issuer)].compactMap { $0 }, logger: logger)
    }

    /// The host of a URL (the issuer's), for the certificate's names.
    static func host(of url: String) -> String? { URLComponents(string: url)?.host }

    /// One line at start-up saying what clients must trust.
    func announce(_ logger: Logger) {
        var metadata: Logger.Metadata = [
            "not_valid_after": .string(Timestamp.format(certificate.leaf.notValidAfter))
        ]
        if let caCertificatePath { metadata["ca_certificate"] = .string(caCertificatePath) }
        logger.info(isDevelopmentCA ? "TLS 1.3 with the development CA" : "TLS 1.3", metadata: metadata)
    }
}
