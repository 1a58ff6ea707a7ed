import Crypto
import Foundation
import SwiftASN1
import X509

/// The certificate authority `meridian serve` makes on first run when no certificate files are configured: an
/// ECDSA P-256 key and a self-signed CA certificate under `<data-dir>/tls`, both 0600. It signs the listeners'
/// leaf certificates; clients (the services' own, `curl --cacert`, browsers) trust it. Later runs reuse it, so
/// a client that trusts it once keeps trusting renewed leaves.
public struct DevelopmentCA: Sendable {
    public let certificate: Certificate
    let privateKey: Certificate.PrivateKey
    /// The PEM file of the CA certificate: what clients are told to trust.
    public let certificatePath: String

    public static let certificateFile = "ca.pem"
    public static let privateKeyFile = "ca-key.pem"
    /// Ten years: the CA outlives any installation it is trusted in; its leaves are what expire and renew.
    public static let lifetime: TimeInterval = 10 * 365 * 86_400

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// The CA in `directory`, made there (with the directory, 0700) when it does not exist yet.
    public static func loadOrCreate(in directory: String, now: Date = Date()) throws -> DevelopmentCA {
        let certificatePath = (directory as NSString).appendingPathComponent(certificateFile)
        let keyPath = (directory as NSString).appendingPathComponent(privateKeyFile)
        let manager = FileManager.default
        switch (manager.fileExists(atPath: certificatePath), manager.fileExists(atPath: keyPath)) {
        case (true, true):
            return try load(certificatePath: certificatePath, keyPath: keyPath)
        case (false, false):
            try PrivateFile.makeDirectory(directory)
            let ca = try make(certificatePath: certificatePath, now: now)
            // The key first: a certificate without its key on disk would be unusable on the next run.
            try PrivateFile.write(try ca.privateKey.serializeAsPEM().pemString, to: keyPath)
            try PrivateFile.write(try ca.certificate.serializeAsPEM().pemString, to: certificatePath)
            return ca
        default:
            throw Invalid(
                description: "\(directory) holds only one of \(certificateFile) and \(privateKeyFile); restore the "
                    + "other, or remove both to make a new development CA (clients must then trust the new one)")
        }
    }

    static func load(certificatePath: String, keyPath: String) throws -> DevelopmentCA {
        let certificate: Certificate
        let key: Certificate.PrivateKey
        do {
            certificate = try Certificate(pemEncoded: try PrivateFile.read(certificatePath))
            key = try Certificate.PrivateKey(pemEncoded: try PrivateFile.read(keyPath))
        } catch let error as PrivateFile.WriteError {
            throw Invalid(description: error.description)
        } catch {
            throw Invalid(description: "\(certificatePath) or \(privateKeyFile) is not a PEM certificate and key")
        }
        guard key.publicKey == certificate.publicKey else {
            throw Invalid(description: "\(privateKeyFile) is not the key of \(certificatePath)")
        }
        return DevelopmentCA(certificate: certificate, privateKey: key, certificatePath: certificatePath)
    }

    static func make(certificatePath: String, now: Date) throws -> DevelopmentCA {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let name = try DistinguishedName {
            OrganizationName("Meridian")
            CommonName("Meridian development CA")
        }
        // Back-dated a little so a client whose clock runs slightly behind still accepts it.
        let start = now.addingTimeInterval(-3600)
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: start, notValidAfter: start.addingTimeInterval(lifetime), issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            },
            issuerPrivateKey: key)
        return DevelopmentCA(certificate: certificate, privateKey: key, certificatePath: certificatePath)
    }

    /// A server certificate for `names`, valid from now for `lifetime` (at most 90 days), with a new key.
    public func issueLeaf(for names: ServerNames, now: Date = Date(), lifetime: TimeInterval = LeafPolicy.lifetime)
        throws -> IssuedCertificate
    {
        precondition(lifetime <= LeafPolicy.lifetime, "leaf certificates live at most 90 days")
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let start = now.addingTimeInterval(-300)
        let caKeyID = try certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: start, notValidAfter: start.addingTimeInterval(lifetime), issuer: certificate.subject,
            subject: try DistinguishedName {
                OrganizationName("Meridian")
                CommonName(names.commonName)
            },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                names.subjectAlternativeNames
                SubjectKeyIdentifier(hash: key.publicKey)
                AuthorityKeyIdentifier(keyIdentifier: caKeyID)
            },
            issuerPrivateKey: privateKey)
        return IssuedCertificate(certificate: leaf, privateKey: key)
    }

    /// Whether `leaf` carries this CA's signature.
    public func signed(_ leaf: Certificate) -> Bool {
        leaf.issuer == certificate.subject && certificate.publicKey.isValidSignature(leaf.signature, for: leaf)
    }
}

/// How long the development CA's leaf certificates live and when they are replaced.
public enum LeafPolicy {
    /// Ninety days, the longest Mozilla's "modern" profile accepts.
    public static let lifetime: TimeInterval = 90 * 86_400
    /// A leaf with less left than this is replaced, at start-up and while running.
    public static let renewBefore: TimeInterval = 30 * 86_400
}

/// A certificate with its private key.
public struct IssuedCertificate: Sendable {
    public let certificate: Certificate
    public let privateKey: Certificate.PrivateKey

    public func certificatePEM() throws -> String { try certificate.serializeAsPEM().pemString }
    public func privateKeyPEM() throws -> String { try privateKey.serializeAsPEM().pemString }
}
