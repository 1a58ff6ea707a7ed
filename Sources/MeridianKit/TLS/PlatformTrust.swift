import AsyncHTTPClient
import Crypto
import Foundation
import NIOSSL
import Synchronization

/// What every internal client of the process trusts: the platform CA (the development CA, or `--tls-ca`), or
/// the system's roots when none is configured. The one place client TLS is decided: TLS 1.3 only, and the
/// server's certificate chain and host name always verified.
public enum PlatformTrust {
    struct State {
        var roots: NIOSSLTrustRoots = .default
        /// Identifies `roots`, so a client made for them can be reused.
        var fingerprint = "system"
        var client: HTTPClient?
        /// Clients made for earlier roots. An `HTTPClient` must be shut down before it is released, and a
        /// client handed out may be in use for the life of the process, so they are kept like `HTTPClient.shared`.
        var retired: [HTTPClient] = []
    }

    private static let state = Mutex(State())

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Trusts the CA certificate(s) in `path` (PEM) from now on. Clients made before keep their roots, so the
    /// CLI calls this before it builds any service.
    public static func trust(caCertificateFile path: String) throws {
        let pem: String
        let certificates: [NIOSSLCertificate]
        do {
            pem = try String(contentsOfFile: path, encoding: .utf8)
            certificates = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))
        } catch {
            throw Invalid(description: "cannot read the CA certificate \(path): \(error)")
        }
        guard !certificates.isEmpty else { throw Invalid(description: "\(path) holds no PEM certificate") }
        let fingerprint = SHA256.hash(data: Data(pem.utf8)).hexString
        state.withLock { state in
            guard state.fingerprint != fingerprint else { return }
            if let client = state.client { state.retired.append(client) }
            state.client = nil
            state.roots = .certificates(certificates)
            state.fingerprint = fingerprint
        }
    }

    /// The roots internal clients trust now.
    public static var roots: NIOSSLTrustRoots { state.withLock { $0.roots } }

    /// TLS for a client of the platform: 1.3 only, full verification against `roots`.
    public static func clientConfiguration(trusting roots: NIOSSLTrustRoots = PlatformTrust.roots) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateVerification = .fullVerification
        configuration.trustRoots = roots
        return configuration
    }

    /// The process's pooled client between services, for the roots trusted now (`ServiceClient.internalClient`).
    static var internalClient: HTTPClient {
        state.withLock { state in
            if let client = state.client { return client }
            let client = ServiceClient.makeInternalClient(tls: clientConfiguration(trusting: state.roots))
            state.client = client
            return client
        }
    }
}
