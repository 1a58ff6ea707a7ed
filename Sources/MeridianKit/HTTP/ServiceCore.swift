import Hummingbird
import Logging
import ServiceLifecycle

/// What every service that checks tokens against the users service is built from: its settings, database,
/// metrics, readiness, token verifier, route table and migrations, and the router and application made of them.
/// A service adds its routes to `makeRouter()`'s router and hands it back to `makeApplication`.
public struct ServiceCore: Sendable {
    public let name: String
    public let settings: ServiceSettings
    public let logger: Logger
    /// The service's own database; a `Service` the application runs.
    public let database: any Database
    public let metrics: ServiceMetrics
    public let readiness: Readiness
    public let verifier: any AccessTokenVerifier
    /// Seals the service's stored values under its data keys (loaded in `prepare`, after the migrations).
    public let cipher: FieldCipher
    /// Every column the service stores ciphertext in; the key-rotation job re-encrypts them.
    public let encryptedColumns: [EncryptedColumn]
    /// Re-encrypts values after `meridian keys rotate`; runs beside the server.
    public let keyRotation: KeyRotation
    /// The service's hash-chained audit log; every mutation appends to it in its own transaction.
    public let audit: AuditLog
    let accessTable: RouteAccessTable
    let migrations: [Migration]

    /// Without a `verifier`, tokens are verified against the JWKS of the users service at
    /// `settings.url(of: "users")` for `settings.issuer`, so that URL must then be configured.
    public init(
        name: String, settings: ServiceSettings, logger: Logger, accessTable: RouteAccessTable,
        migrations: [Migration], verifier: (any AccessTokenVerifier)? = nil,
        encryptedColumns: [EncryptedColumn] = []
    ) throws {
        // Everything that can fail comes before the database opens: an open connection must be closed before
        // it is released.
        self.verifier =
            try verifier
            ?? JWKSTokenVerifier(usersURL: settings.url(of: "users"), issuer: settings.issuer, logger: logger)
        self.name = name
        self.settings = settings
        self.logger = logger
        self.accessTable = accessTable
        guard let masterKey = settings.masterKey else {
            throw ServiceSettings.Missing(
                description: "no master key for the \(name) service: set MERIDIAN_MASTER_KEY or --master-key-file")
        }
        self.migrations = migrations + ServiceCore.kernelMigrations
        self.encryptedColumns = encryptedColumns + ServiceCore.kernelEncryptedColumns
        self.database = try openDatabase(url: settings.databaseURL, schema: name, logger: logger)
        self.metrics = ServiceMetrics(service: name)
        metrics.exportPoolUsage(of: database)
        self.cipher = FieldCipher(service: name, database: database, masterKey: masterKey)
        self.audit = AuditLog(service: name, cipher: cipher, checkpoints: settings.auditCheckpoints)
        self.keyRotation = KeyRotation(
            cipher: cipher, database: database, columns: self.encryptedColumns, metrics: metrics, audit: audit,
            logger: logger)
        self.readiness = Readiness()
    }

    /// The kernel's tables every service keeps (sealed idempotency records, data keys, the audit log), after the
    /// service's own; the users service, which is not built on `ServiceCore`, lists them too.
    public static let kernelMigrations = [IdempotencyMiddleware.sealing] + CryptoMigrations.all + AuditMigrations.all
    /// The kernel's columns that hold ciphertext, for key rotation.
    public static let kernelEncryptedColumns = AuditLog.encryptedColumns + IdempotencyMiddleware.encryptedColumns

    /// The shared middleware and operational routes, then access control and idempotency: routes added to the
    /// returned router get all of them.
    public func makeRouter() -> Router<MeridianRequestContext> {
        let router = ServiceHost.makeRouter(metrics: metrics, readiness: readiness)
        // Before idempotency: refusals are never remembered, and keys are kept per verified subject.
        router.add(
            middleware: AccessControlMiddleware(
                table: accessTable, verifier: verifier,
                denials: AuditDenials(log: audit, database: database, logger: logger)))
        router.add(middleware: IdempotencyMiddleware(database: database, cipher: cipher))
        AuditRoutes(log: audit, database: database).register(on: router)
        return router
    }

    /// The HTTP server with the database and, before it accepts traffic, the migrations and the signing keys.
    public func makeApplication(
        router: Router<MeridianRequestContext>, services extraServices: [any Service] = [],
        onServerRunning: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        ServiceHost.makeApplication(
            router: router, listen: settings.listen, services: [database, keyRotation] + extraServices, readiness: readiness,
            logger: logger, tls: settings.tls, metrics: metrics,
            prepare: {
                try await migrate()
                try await cipher.load(checkpoints: settings.auditCheckpoints)
                await prefetchSigningKeys()
            },
            onServerRunning: onServerRunning)
    }

    /// Applies the pending migrations; the database service must be running (`meridian migrate` runs it).
    @discardableResult
    public func migrate() async throws -> [String] {
        try await Migrator(database: database, migrations: migrations, logger: logger).run()
    }

    /// Loads the issuer's signing keys before the first request needs them, if users is up; start-up does not
    /// depend on users. An injected verifier other than the JWKS one has nothing to fetch.
    func prefetchSigningKeys() async {
        guard let jwks = verifier as? JWKSTokenVerifier, let usersURL = try? settings.url(of: "users") else { return }
        await jwks.prefetchIfIssuerReady(usersURL: usersURL)
    }
}
