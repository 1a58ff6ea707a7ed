import Foundation
import NIOSSL
import Synchronization
import X509

/// The certificate and key every listener of the process presents, replaceable while they serve: each new
/// handshake takes the current pair (NIOSSL's `sslContextCallback`, the hook swift-nio-extras'
/// `CertificateReloader` uses), so a renewed certificate is served without a restart or a dropped connection.
///
/// Two sources: certificate and key files the operator configures (re-read on `refresh`, so a rotated pair,
/// from cert-manager say, is picked up), or the development CA, which issues a leaf into its directory and
/// replaces it when less than `LeafPolicy.renewBefore` is left.
public final class ServerCertificate: Sendable {
    public enum Source: Sendable {
        case files(certificate: String, privateKey: String)
        case development(DevelopmentCA, names: ServerNames, directory: String)
    }

    struct Current {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        let leaf: Certificate
    }

    public static let leafFile = "server.pem"
    public static let leafKeyFile = "server-key.pem"

    public let source: Source
    private let current: Mutex<Current>

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Loads the configured files, or the development leaf (issuing one when it is missing, not from this CA,
    /// missing a name, or within `LeafPolicy.renewBefore` of expiry).
    public init(source: Source, now: Date = Date()) throws {
        self.source = source
        self.current = Mutex(try ServerCertificate.load(source, now: now))
    }

    /// The end-entity certificate now being served.
    public var leaf: Certificate { current.withLock { $0.leaf } }

    /// Re-reads the configured files, or renews the development leaf when it is due. Returns whether the
    /// served certificate changed. On failure the current certificate stays in service.
    @discardableResult
    public func refresh(now: Date = Date()) throws -> Bool {
        let served = leaf
        let next = try ServerCertificate.load(source, now: now)
        guard next.leaf != served else { return false }
        current.withLock { $0 = next }
        return true
    }

    /// A listener's TLS: 1.3 only, this certificate (current at each handshake), no client certificate.
    public func tlsConfiguration() -> TLSConfiguration {
        let (chain, key) = current.withLock { ($0.chain, $0.key) }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv13
        configuration.sslContextCallback = { _, promise in promise.succeed(self.override) }
        return configuration
    }

    /// The pair current at a handshake, which replaces the one the configuration was made with.
    private var override: NIOSSLContextConfigurationOverride {
        var override = NIOSSLContextConfigurationOverride()
        current.withLock { pair in
            override.certificateChain = pair.chain.map { .certificate($0) }
            override.privateKey = .privateKey(pair.key)
        }
        return override
    }

    private static func load(_ source: Source, now: Date) throws -> Current {
        switch source {
        case .files(let certificatePath, let keyPath):
            return try pair(
                certificatePEM: read(certificatePath), keyPEM: read(keyPath), names: (certificatePath, keyPath))
        case .development(let ca, let names, let directory):
            let certificatePath = (directory as NSString).appendingPathComponent(leafFile)
            let keyPath = (directory as NSString).appendingPathComponent(leafKeyFile)
            if let existing = try? pair(
                certificatePEM: read(certificatePath), keyPEM: read(keyPath), names: (certificatePath, keyPath)),
                ca.signed(existing.leaf), names.areCovered(by: existing.leaf),
                existing.leaf.notValidAfter.timeIntervalSince(now) > LeafPolicy.renewBefore,
                existing.leaf.notValidBefore <= now
            {
                return existing
            }
            let issued = try ca.issueLeaf(for: names, now: now)
            let certificatePEM = try issued.certificatePEM()
            let keyPEM = try issued.privateKeyPEM()
            try PrivateFile.makeDirectory(directory)
            // The key first: readers of the pair re-check that key and certificate match.
            try PrivateFile.write(keyPEM, to: keyPath)
            try PrivateFile.write(certificatePEM, to: certificatePath)
            return try pair(certificatePEM: certificatePEM, keyPEM: keyPEM, names: (certificatePath, keyPath))
        }
    }

    private static func read(_ path: String) throws -> String {
        do { return try PrivateFile.read(path) } catch let error as PrivateFile.WriteError {
            throw Invalid(description: error.description)
        }
    }

    /// A certificate chain (leaf first) and its key, checked to belong together.
    private static func pair(certificatePEM: String, keyPEM: String, names: (String, String)) throws -> Current {
        let chain: [NIOSSLCertificate]
        let leaf: Certificate
        let key: NIOSSLPrivateKey
        let x509Key: Certificate.PrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8))
            leaf = try Certificate(pemEncoded: certificatePEM)
        } catch {
            throw Invalid(description: "\(names.0) holds no PEM certificate")
        }
        do {
            key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
            x509Key = try Certificate.PrivateKey(pemEncoded: keyPEM)
        } catch {
            throw Invalid(description: "\(names.1) holds no PEM private key")
        }
        guard !chain.isEmpty, x509Key.publicKey == leaf.publicKey else {
            throw Invalid(description: "the key in \(names.1) does not belong to the certificate in \(names.0)")
        }
        return Current(chain: chain, key: key, leaf: leaf)
    }
}
