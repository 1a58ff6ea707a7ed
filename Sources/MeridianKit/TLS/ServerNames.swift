import Foundation
import SwiftASN1
import X509

/// The names a listener's certificate is valid for: always `localhost`, `127.0.0.1` and `::1`, plus the host
/// names and addresses the platform is configured to be reached at (`--tls-host`, the issuer's host, a
/// non-wildcard listen address).
public struct ServerNames: Sendable, Equatable {
    public private(set) var dnsNames: [String] = []
    /// Addresses in network byte order: 4 bytes for IPv4, 16 for IPv6.
    public private(set) var ipAddresses: [[UInt8]] = []

    public static let loopback: [String] = ["localhost", "127.0.0.1", "::1"]

    public init(_ names: [String] = []) {
        for name in ServerNames.loopback + names { add(name) }
    }

    /// Adds a host name or an IP address literal; wildcard listen addresses and duplicates are skipped.
    public mutating func add(_ name: String) {
        var host = name.trimmingCharacters(in: .whitespaces)
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !["0.0.0.0", "::"].contains(host) else { return }
        if let bytes = ServerNames.address(host) {
            if !ipAddresses.contains(bytes) { ipAddresses.append(bytes) }
        } else {
            let lowered = host.lowercased()
            if !dnsNames.contains(lowered) { dnsNames.append(lowered) }
        }
    }

    var commonName: String { dnsNames.first ?? "localhost" }

    var subjectAlternativeNames: SubjectAlternativeNames {
        SubjectAlternativeNames(
            dnsNames.map { GeneralName.dnsName($0) }
                + ipAddresses.map { GeneralName.ipAddress(ASN1OctetString(contentBytes: $0[...])) })
    }

    /// Whether a certificate's subject alternative names include all of these.
    public func areCovered(by certificate: Certificate) -> Bool {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return false }
        let present = Set(names)
        return subjectAlternativeNames.allSatisfy { present.contains($0) }
    }

    static func address(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
