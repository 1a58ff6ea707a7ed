import Foundation
import MeridianKit

#if canImport(Glibc)
import Glibc
#endif

/// The client credentials services call each other with (event delivery, usage telemetry): configured with
/// `MERIDIAN_SERVICE_CLIENT_ID` / `MERIDIAN_SERVICE_CLIENT_SECRET` (production registers the client with
/// `meridian admin create-client`), or, in `serve`, a secret generated once into `<data-dir>/service-client-secret`
/// (0600) for the `meridian-services` client, which the users service then creates.
enum ServiceClientSecret {
    static let fileName = "service-client-secret"

    /// The configured credentials, if a secret is configured.
    static func configured(_ settings: Settings) -> ServiceClientCredentials? {
        guard let secret = settings.string("service.client.secret", secret: true) else { return nil }
        return ServiceClientCredentials(
            clientID: settings.string("service.client.id") ?? ServiceTokenProvider.defaultClientID, clientSecret: secret)
    }

    /// For `serve`: the configured credentials, else the generated secret file's (made on first start).
    static func forServe(_ settings: Settings) throws -> ServiceClientCredentials {
        if let configured = configured(settings) { return configured }
        let path = (settings.dataDirectory as NSString).appendingPathComponent(fileName)
        return ServiceClientCredentials(
            clientID: settings.string("service.client.id") ?? ServiceTokenProvider.defaultClientID,
            clientSecret: try readOrCreate(path: path))
    }

    static func readOrCreate(path: String) throws -> String {
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            let secret = existing.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !secret.isEmpty else {
                throw ConfigurationError(description: "\(path) is empty: delete it to have a new service secret made")
            }
            return secret
        }
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        let secret = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        // Owner-only from the first byte; O_EXCL: if another process made it meanwhile, use theirs.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            if errno == EEXIST { return try readOrCreate(path: path) }
            throw ConfigurationError(description: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        let contents = Array((secret + "\n").utf8)
        let written = contents.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == contents.count, synced == 0 else {
            unlink(path)
            throw ConfigurationError(description: "cannot write \(path)")
        }
        return secret
    }
}
