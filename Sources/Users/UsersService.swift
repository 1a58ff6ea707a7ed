import Foundation
import Hummingbird
import Logging
import MeridianKit

/// The users service: accounts, roles, and the OAuth 2.0 authorization server that issues Meridian's access
/// tokens (docs/identity.md).
public struct UsersService: Sendable {
    public static let name = "users"

    public let settings: ServiceSettings
    /// The service's own database; exposed so that tests and admin commands can reach it.
    public let database: any Database
    public let metrics: ServiceMetrics
    public let readiness: Readiness
    /// The public base URL tokens are issued under (`iss`).
    public let issuer: String
    /// Whether `POST /api/users` is open to anyone (off by default: it then needs `users:write`).
    public let selfRegistration: Bool
    /// The keys that sign access tokens.
    public let keyring: SigningKeyring
    /// How this service checks the bearer tokens sent to it: against its own published keys, read from its
    /// database rather than over HTTP.
    public let verifier: any AccessTokenVerifier
    /// Seals every user-supplied value the service stores (loaded by `migrate()`).
    public let cipher: FieldCipher
    /// Re-encrypts stored values after `meridian keys rotate`; runs beside the server.
    public let keyRotation: KeyRotation
    /// The outbox `user.created` is written to, and the dispatcher that delivers it.
    let events: EventPublishing
    /// The service's hash-chained audit log; every mutation appends to it in its own transaction.
    public let audit: AuditLog
    let logger: Logger
    let repository: SQLUserRepository
    let hasher: PasswordHasher
    let clients: SQLClientRepository
    let roles: SQLRoleRepository
    let secrets: ServiceSecrets
    let decoy: DecoyPasswordHash
    let pages: LoginPages
    let authorization: AuthorizationServerSettings
    let now: @Sendable () -> Date

    public static let defaultIssuer = ServiceSettings.defaultIssuer

    /// Opens the database (nothing is read from it until the application runs). `bcryptCost` overrides
    /// `MERIDIAN_BCRYPT_COST` and the default of 12; tests pass the minimum, 4. `issuer` is the platform's public
    /// base URL; `selfRegistration` opens `POST /api/users` to callers without a token.
    public init(
        settings: ServiceSettings, logger: Logger, bcryptCost: Int? = nil, issuer: String = UsersService.defaultIssuer,
        selfRegistration: Bool = false
    ) throws {
        try self.init(
            settings: settings, logger: logger, bcryptCost: bcryptCost, issuer: issuer,
            selfRegistration: selfRegistration, configure: { _ in })
    }

    /// The full initialiser: `configure` adjusts the authorization server's lifetimes and throttles, `now` is
    /// the clock of codes, tokens and keys. Tests use both instead of waiting.
    init(
        settings: ServiceSettings, logger: Logger, bcryptCost: Int?, issuer: String, selfRegistration: Bool,
        configure: (inout AuthorizationServerSettings) -> Void, now: @escaping @Sendable () -> Date = Date.init
    ) throws {
        let cost = try bcryptCost ?? PasswordHasher.cost(environment: ProcessInfo.processInfo.environment)
        self.settings = settings
        self.logger = logger
        self.hasher = try PasswordHasher(cost: cost)
        guard let masterKey = settings.masterKey else {
            throw MasterKeySource.Missing(
                description: "no master key for the users service: set MERIDIAN_MASTER_KEY or --master-key-file")
        }
        self.database = try openDatabase(url: settings.databaseURL, schema: UsersService.name, logger: logger)
        let cipher = FieldCipher(service: UsersService.name, database: database, masterKey: masterKey)
        self.cipher = cipher
        let audit = AuditLog(service: UsersService.name, cipher: cipher, checkpoints: settings.auditCheckpoints)
        self.audit = audit
        self.metrics = ServiceMetrics(service: UsersService.name)
        metrics.exportPoolUsage(of: database)
        self.keyRotation = KeyRotation(
            cipher: cipher, database: database, columns: UsersService.encryptedColumns, metrics: metrics, audit: audit,
            logger: logger)
        self.readiness = Readiness()
        self.events = EventPublishing(
            producer: UsersService.name, database: database, cipher: cipher, settings: settings, metrics: metrics,
            readiness: readiness, logger: logger, tokens: UsersService.eventTokenSource(settings: settings, logger: logger))
        self.repository = SQLUserRepository(database: database, cipher: cipher, outbox: events.outbox, audit: audit)
        self.issuer = try AuthorizationServerSettings.normalizedIssuer(issuer)
        self.selfRegistration = selfRegistration
        var authorization = AuthorizationServerSettings(issuer: self.issuer)
        configure(&authorization)
        self.authorization = authorization
        self.now = now
        self.clients = SQLClientRepository(database: database, cipher: cipher, audit: audit)
        self.roles = SQLRoleRepository(database: database, audit: audit)
        self.secrets = ServiceSecrets(database: database, cipher: cipher)
        self.decoy = DecoyPasswordHash(hasher: hasher)
        self.pages = try LoginPages()
        let keyring = SigningKeyring(
            database: database, cipher: cipher, accessTokenLifetime: authorization.accessTokenLifetime, now: now,
            audit: audit)
        self.keyring = keyring
        // The key set is a local read, so a token with an unknown kid may cause one at once: right after a
        // rotation this service signs with the new key and must accept it on the next request.
        self.verifier = JWKSTokenVerifier(
            issuer: self.issuer, minimumRefetchInterval: 0, maximumKeyAge: 60, logger: logger, now: now,
            source: { try await keyring.jwks() })
    }

    public func makeRouter() -> Router<MeridianRequestContext> {
        let router = ServiceHost.makeRouter(metrics: metrics, readiness: readiness)
        router.add(middleware: TraceContextMiddleware())
        router.add(
            middleware: AccessControlMiddleware(
                table: UsersAccess.table(selfRegistration: selfRegistration), verifier: verifier,
                denials: AuditDenials(log: audit, database: database, logger: logger)))
        AuditRoutes(log: audit, database: database).register(on: router)
        // Not for `/oauth/*`: a replayed token response would hand out the same refresh token twice, and the
        // stored body would keep tokens at rest. Not for `/api/clients` either: its answer carries a secret
        // that must exist only once.
        let idempotent = router.group().add(middleware: IdempotencyMiddleware(database: database, cipher: cipher))
        UsersRoutes(repository: repository, hasher: hasher).register(on: idempotent)
        RoleRoutes(roles: roles, users: repository).register(on: idempotent)
        ClientRoutes(clients: clients, registration: ClientRegistration(clients: clients, hasher: hasher))
            .register(on: router)
        WellKnownRoutes(keyring: keyring, settings: authorization).register(on: router)
        let signIn = SignIn(
            users: repository, hasher: hasher, decoy: decoy, failures: LoginFailureStore(database: database, audit: audit),
            secrets: secrets, settings: authorization)
        AuthorizeRoutes(
            database: database, cipher: cipher, clients: clients, pages: pages,
            csrf: CSRFProtection(secrets: secrets, settings: authorization), signIn: signIn,
            settings: authorization, now: now, audit: audit
        ).register(on: router)
        TokenRoutes(
            authenticator: ClientAuthenticator(clients: clients, hasher: hasher, decoy: decoy),
            grants: TokenGrants(
                database: database, cipher: cipher, users: repository, roles: roles, keyring: keyring,
                minter: TokenMinter(settings: authorization), settings: authorization, now: now, audit: audit),
            introspection: TokenIntrospection(
                database: database, verifier: verifier, settings: authorization, now: now, audit: audit)
        ).register(on: router)
        return router
    }

    /// The HTTP server with the database and, before it accepts traffic, the migrations and a signing key.
    public func makeApplication(
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        ServiceHost.makeApplication(
            router: makeRouter(), listen: settings.listen, services: [database, keyRotation] + events.services,
            readiness: readiness,
            logger: logger, tls: settings.tls, metrics: metrics,
            prepare: {
                try await migrate()
                // The first start makes the first key, so the JWKS is never empty once the service is ready.
                _ = try await keyring.signer()
            },
            onServerRunning: onServerRunning)
    }

    /// Applies the pending migrations, then loads the data keys (creating the first on a fresh database) and
    /// stores the built-in clients, whose fields are ciphertext; the database service must be running
    /// (`meridian migrate` runs it). Every offline admin verb calls this first.
    @discardableResult
    public func migrate() async throws -> [String] {
        let applied = try await Migrator(
            database: database,
            migrations: UsersMigrations.all + OutboxMigrations.all + ServiceCore.kernelMigrations,
            logger: logger
        ).run()
        try await cipher.load(checkpoints: settings.auditCheckpoints)
        try await clients.ensureBuiltInClients()
        try await ensureServiceClient()
        return applied
    }

    /// Every column the users service stores ciphertext in.
    public static let encryptedColumns: [EncryptedColumn] =
        SQLUserRepository.encryptedColumns + SQLClientRepository.encryptedColumns + GrantStore.encryptedColumns
        + SigningKeyStore.encryptedColumns + ServiceSecrets.encryptedColumns + Outbox.encryptedColumns
        + ServiceCore.kernelEncryptedColumns
}
