import Crypto
import Foundation
import MeridianKit
import MeridianTestSupport
import SwiftASN1
import Testing
import X509

/// A fresh directory for one test's TLS files.
func temporaryTLSDirectory() -> String {
    TestDatabase.temporaryDirectory() + "/tls-\(UUID().uuidString)"
}

func fileMode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

@Suite("Development CA and leaf certificates")
struct TLSCertificateTests {
    @Test("the CA is made on first use: P-256, a CA certificate, files 0600 in a 0700 directory")
    func createsCA() throws {
        let directory = temporaryTLSDirectory()
        let ca = try DevelopmentCA.loadOrCreate(in: directory)
        let certificatePath = directory + "/" + DevelopmentCA.certificateFile
        let keyPath = directory + "/" + DevelopmentCA.privateKeyFile
        #expect(ca.certificatePath == certificatePath)
        #expect(try fileMode(certificatePath) == 0o600)
        #expect(try fileMode(keyPath) == 0o600)
        #expect(try fileMode(directory) == 0o700)
        #expect(ca.certificate.signatureAlgorithm == .ecdsaWithSHA256)
        #expect(P256.Signing.PublicKey(ca.certificate.publicKey) != nil)
        #expect(try ca.certificate.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        let usage = try #require(try ca.certificate.extensions.keyUsage)
        #expect(usage.keyCertSign && usage.cRLSign && !usage.digitalSignature)
        let key = try Certificate.PrivateKey(pemEncoded: try String(contentsOfFile: keyPath, encoding: .utf8))
        #expect(key.publicKey == ca.certificate.publicKey)
    }

    @Test("a second start reuses the CA instead of making a new one")
    func reusesCA() throws {
        let directory = temporaryTLSDirectory()
        let first = try DevelopmentCA.loadOrCreate(in: directory)
        let second = try DevelopmentCA.loadOrCreate(in: directory)
        #expect(first.certificate == second.certificate)
        let leaf = try second.issueLeaf(for: ServerNames())
        #expect(first.signed(leaf.certificate))
    }

    @Test("a CA directory with only one of the two files is refused, not silently replaced")
    func refusesHalfCA() throws {
        let directory = temporaryTLSDirectory()
        _ = try DevelopmentCA.loadOrCreate(in: directory)
        try FileManager.default.removeItem(atPath: directory + "/" + DevelopmentCA.privateKeyFile)
        #expect(throws: DevelopmentCA.Invalid.self) { try DevelopmentCA.loadOrCreate(in: directory) }
    }

    @Test("a leaf lives at most 90 days, serves only TLS servers, and names loopback and the configured hosts")
    func leafShape() throws {
        let ca = try DevelopmentCA.loadOrCreate(in: temporaryTLSDirectory())
        let issued = try ca.issueLeaf(for: ServerNames(["api.example.test", "10.1.2.3", "[fd00::1]"]))
        let leaf = issued.certificate
        #expect(leaf.notValidAfter.timeIntervalSince(leaf.notValidBefore) <= 90 * 86_400)
        #expect(leaf.notValidBefore <= Date())
        #expect(ca.signed(leaf))
        #expect(try leaf.extensions.basicConstraints == .notCertificateAuthority)
        let usage = try #require(try leaf.extensions.keyUsage)
        #expect(usage.digitalSignature && !usage.keyCertSign)
        let extended = try #require(try leaf.extensions.extendedKeyUsage)
        #expect(Array(extended) == [.serverAuth])
        let names = Set(try #require(try leaf.extensions.subjectAlternativeNames))
        let expected: Set<GeneralName> = [
            .dnsName("localhost"), .dnsName("api.example.test"),
            .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
            .ipAddress(ASN1OctetString(contentBytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
            .ipAddress(ASN1OctetString(contentBytes: [10, 1, 2, 3])),
            .ipAddress(ASN1OctetString(contentBytes: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
        ]
        #expect(names == expected)
        #expect(P256.Signing.PublicKey(leaf.publicKey) != nil)
    }

    @Test("the served leaf is written 0600 and reused on the next start while far from expiry")
    func leafIsReused() throws {
        let directory = temporaryTLSDirectory()
        let ca = try DevelopmentCA.loadOrCreate(in: directory)
        let first = try ServerCertificate(source: .development(ca, names: ServerNames(), directory: directory))
        #expect(try fileMode(directory + "/" + ServerCertificate.leafFile) == 0o600)
        #expect(try fileMode(directory + "/" + ServerCertificate.leafKeyFile) == 0o600)
        let later = Date().addingTimeInterval(59 * 86_400)
        let second = try ServerCertificate(
            source: .development(ca, names: ServerNames(), directory: directory), now: later)
        #expect(second.leaf == first.leaf)
    }

    @Test("at start, a leaf with less than 30 days left is replaced")
    func nearExpiryLeafIsRenewedAtStart() throws {
        let directory = temporaryTLSDirectory()
        let ca = try DevelopmentCA.loadOrCreate(in: directory)
        let first = try ServerCertificate(source: .development(ca, names: ServerNames(), directory: directory))
        let nearExpiry = first.leaf.notValidAfter.addingTimeInterval(-29 * 86_400)
        let second = try ServerCertificate(
            source: .development(ca, names: ServerNames(), directory: directory), now: nearExpiry)
        #expect(second.leaf != first.leaf)
        #expect(second.leaf.notValidAfter > first.leaf.notValidAfter)
        #expect(ca.signed(second.leaf))
        // The replacement is on disk too: the next start serves it.
        let third = try ServerCertificate(
            source: .development(ca, names: ServerNames(), directory: directory), now: nearExpiry)
        #expect(third.leaf == second.leaf)
    }

    @Test("while running, refresh replaces a leaf only once it is due")
    func renewalWhileRunning() throws {
        let directory = temporaryTLSDirectory()
        let ca = try DevelopmentCA.loadOrCreate(in: directory)
        let certificate = try ServerCertificate(source: .development(ca, names: ServerNames(), directory: directory))
        let original = certificate.leaf
        #expect(try certificate.refresh(now: Date().addingTimeInterval(30 * 86_400)) == false)
        #expect(certificate.leaf == original)
        #expect(try certificate.refresh(now: original.notValidAfter.addingTimeInterval(-10 * 86_400)) == true)
        #expect(certificate.leaf != original)
        #expect(certificate.leaf.notValidAfter > original.notValidAfter)
    }

    @Test("a leaf that lacks a newly configured host name is replaced at start")
    func newHostNameReissues() throws {
        let directory = temporaryTLSDirectory()
        let ca = try DevelopmentCA.loadOrCreate(in: directory)
        let first = try ServerCertificate(source: .development(ca, names: ServerNames(), directory: directory))
        let second = try ServerCertificate(
            source: .development(ca, names: ServerNames(["meridian.internal"]), directory: directory))
        #expect(second.leaf != first.leaf)
        #expect(try second.leaf.extensions.subjectAlternativeNames?.contains(.dnsName("meridian.internal")) == true)
    }

    @Test("a leaf on disk from another CA is replaced by one from this CA")
    func foreignLeafIsReplaced() throws {
        let directory = temporaryTLSDirectory()
        let ca = try DevelopmentCA.loadOrCreate(in: directory)
        let other = try DevelopmentCA.loadOrCreate(in: temporaryTLSDirectory())
        let foreign = try other.issueLeaf(for: ServerNames())
        try foreign.privateKeyPEM().write(
            toFile: directory + "/" + ServerCertificate.leafKeyFile, atomically: true, encoding: .utf8)
        try foreign.certificatePEM().write(
            toFile: directory + "/" + ServerCertificate.leafFile, atomically: true, encoding: .utf8)
        let certificate = try ServerCertificate(source: .development(ca, names: ServerNames(), directory: directory))
        #expect(ca.signed(certificate.leaf))
        #expect(certificate.leaf != foreign.certificate)
    }

    @Test("configured files: the pair is loaded, a key of another certificate is refused")
    func configuredFiles() throws {
        let directory = temporaryTLSDirectory()
        let ca = try DevelopmentCA.loadOrCreate(in: directory)
        let one = try ca.issueLeaf(for: ServerNames())
        let two = try ca.issueLeaf(for: ServerNames())
        let certificatePath = directory + "/configured.pem"
        let keyPath = directory + "/configured-key.pem"
        try one.certificatePEM().write(toFile: certificatePath, atomically: true, encoding: .utf8)
        try one.privateKeyPEM().write(toFile: keyPath, atomically: true, encoding: .utf8)
        let served = try ServerCertificate(source: .files(certificate: certificatePath, privateKey: keyPath))
        #expect(served.leaf == one.certificate)
        // A rotated pair on disk is picked up by refresh.
        try two.privateKeyPEM().write(toFile: keyPath, atomically: true, encoding: .utf8)
        try two.certificatePEM().write(toFile: certificatePath, atomically: true, encoding: .utf8)
        #expect(try served.refresh() == true)
        #expect(served.leaf == two.certificate)
        // A mismatched pair is refused, and the served certificate stays.
        try one.privateKeyPEM().write(toFile: keyPath, atomically: true, encoding: .utf8)
        #expect(throws: ServerCertificate.Invalid.self) { try served.refresh() }
        #expect(served.leaf == two.certificate)
        #expect(throws: ServerCertificate.Invalid.self) {
            try ServerCertificate(source: .files(certificate: certificatePath, privateKey: keyPath))
        }
    }
}
