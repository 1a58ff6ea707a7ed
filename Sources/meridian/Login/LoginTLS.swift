import AsyncHTTPClient
import MeridianKit
import NIOSSL

/// The client `meridian login` reaches Meridian with: TLS 1.3 only and the server always verified, like every
/// client of the platform (`PlatformTrust`), against the given CA (serve's development CA) or the system's roots.
enum LoginTLS {
    static func client(caFile: String?) throws -> HTTPClient {
        var roots = NIOSSLTrustRoots.default
        if let caFile, !caFile.isEmpty {
            do {
                roots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw LoginError(description: "cannot read the CA certificate \(caFile) (--cacert)")
            }
        }
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = PlatformTrust.clientConfiguration(trusting: roots)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}
