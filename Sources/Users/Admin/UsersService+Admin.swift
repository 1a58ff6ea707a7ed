import Foundation
import Logging
import MeridianKit

#if canImport(Glibc)
import Glibc
#endif

/// The admin verbs the CLI runs offline, on the data alone: the service's database must be running (as for
/// `migrate()`), no listener is needed. Each applies pending migrations first, so it works on a fresh data
/// directory too.
extension UsersService {
    /// The email of the account `ensureAdmin` creates; it signs in with this address.
    public static let adminEmail = "admin@meridian.local"
    /// The file a generated admin password is written to, inside the data directory.
    public static let adminPasswordFileName = "admin-password"

    /// What `ensureAdmin` did.
    public enum AdminBootstrap: Sendable, Equatable {
        /// An account with the `admin` role exists; nothing was changed.
        case alreadyPresent
        /// The account was created. `passwordFile` names the file holding its generated password, or is nil when
        /// the password came from the caller.
        case created(userID: String, email: String, passwordFile: String?)
    }

    public struct AdminBootstrapError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Creates the first administrator when no account holds the `admin` role. The password is `password`
    /// (the CLI passes `MERIDIAN_ADMIN_PASSWORD`) or, when nil, generated and written once to
    /// `<dataDirectory>/admin-password` with mode 0600; the log names that file, never the password.
    @discardableResult
    public func ensureAdmin(dataDirectory: String, password: String?, email: String = UsersService.adminEmail)
        async throws -> AdminBootstrap
    {
        try await migrate()
        let admin = BuiltInRole.admin.rawValue
        if try await repository.countHolding(role: admin) > 0 { return .alreadyPresent }
        guard case .success(let address) = EmailAddress.parse(email) else {
            throw AdminBootstrapError(description: "the admin email is not a valid address")
        }
        var passwordFile: String?
        let secret: String
        if let password {
            if let problem = PasswordPolicy.problem(with: password) {
                throw AdminBootstrapError(description: "the admin password \(problem)")
            }
            secret = password
        } else {
            secret = OpaqueToken.make()
            let path = (dataDirectory as NSString).appendingPathComponent(UsersService.adminPasswordFileName)
            try UsersService.writeSecretFile(path: path, contents: secret + "\n")
            passwordFile = path
        }
        let now = UsersRoutes.now()
        let user = User(
            id: Identifier.make(prefix: User.idPrefix, now: now), email: address.value, name: "Administrator",
            roles: [admin], version: 1, createdAt: now, updatedAt: now)
        do {
            try await repository.create(user, email: address, passwordHash: try await hasher.hash(secret))
        } catch UserStorageError.emailTaken {
            if let passwordFile { try? FileManager.default.removeItem(atPath: passwordFile) }
            throw AdminBootstrapError(
                description:
                    "no account holds the admin role, but \(email) is taken by one that does not; grant it the role or delete it")
        }
        var metadata: Logger.Metadata = ["user_id": .string(user.id)]
        if let passwordFile { metadata["password_file"] = .string(passwordFile) }
        logger.notice(
            passwordFile == nil
                ? "admin account created with the configured password"
                : "admin account created; its generated password is in password_file",
            metadata: metadata)
        return .created(userID: user.id, email: address.value, passwordFile: passwordFile)
    }

    /// Registers an OAuth client: a public one proves itself with PKCE, a confidential one gets a generated
    /// secret, returned here and never again. `grantTypes` nil means the usual ones for the kind
    /// (public: authorization_code + refresh_token; confidential: client_credentials).
    public func createClient(
        name: String, kind: OAuthClient.Kind, redirectURIs: [String] = [], scopes: [String]? = nil,
        grantTypes: [OAuthClient.GrantType]? = nil
    ) async throws -> RegisteredClient {
        try await migrate()
        let registered = try await ClientRegistration(clients: clients, hasher: hasher)
            .register(name: name, kind: kind, redirectURIs: redirectURIs, scopes: scopes, grantTypes: grantTypes)
        logger.notice("oauth client registered", metadata: ["client_id": .string(registered.client.id)])
        return registered
    }

    /// Makes a new signing key the signer (`meridian keys rotate-signing`). The previous key stays published
    /// until every token it signed has expired. Running services pick the new key up within half a minute.
    @discardableResult
    public func rotateSigningKey() async throws -> String {
        try await migrate()
        let kid = try await keyring.rotate()
        logger.notice("signing key rotated", metadata: ["kid": .string(kid)])
        return kid
    }

    /// Writes `contents` to `path` with mode 0600 from the first byte (never briefly world-readable), through
    /// a temporary file renamed into place, so a reader sees the old file or the whole new one.
    static func writeSecretFile(path: String, contents: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let temporary = path + ".tmp-\(getpid())"
        // A leftover of a crashed run is removed, so the exclusive create below makes a file that is ours.
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw AdminBootstrapError(description: "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(contents.utf8)
        let written = bytes.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == bytes.count, synced == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw AdminBootstrapError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
