import AsyncHTTPClient
import Hummingbird
import Logging
import MeridianKit
import ServiceLifecycle

/// The notifications service: email over SMTP, Web Push and in-app messages, with templates, preferences, a
/// durable delivery queue and order events as a source (docs/notifications.md).
public struct NotificationsService: Sendable {
    public static let name = "notifications"

    let core: ServiceCore
    let options: NotificationSettings
    let store: NotificationStore
    let templates: TemplateStore
    let preferences: PreferenceStore
    let subscriptions: PushSubscriptionStore
    let vapidKeys: VAPIDKeyStore
    let queue: DeliveryQueue
    let composer: NotificationComposer
    let dispatcher: DeliveryDispatcher
    let deliveryMetrics: DeliveryMetrics
    let smtp: SMTPClient?
    let inbox: Inbox

    public var settings: ServiceSettings { core.settings }
    /// The service's own database; exposed so that tests and admin commands can reach it.
    public var database: any Database { core.database }
    public var metrics: ServiceMetrics { core.metrics }
    public var readiness: Readiness { core.readiness }
    var verifier: any AccessTokenVerifier { core.verifier }
    var audit: AuditLog { core.audit }

    /// Opens the database (nothing is read from it until the application runs). Without a `verifier`, access
    /// tokens are verified against the JWKS of the users service at `settings.url(of: "users")`; without a
    /// `directory`, recipients' addresses come from that service, asked with a client-credentials token from
    /// `tokens` (or the settings' service client).
    public init(
        settings: ServiceSettings, logger: Logger, verifier: (any AccessTokenVerifier)? = nil,
        notifications: NotificationSettings? = nil, tokens: (any ServiceTokenSource)? = nil,
        pushClient: HTTPClient? = nil
    ) throws {
        try self.init(
            settings: settings, logger: logger, verifier: verifier, notifications: notifications, tokens: tokens,
            directory: nil, pushClient: pushClient ?? WebPushSender.pushServiceClient)
    }

    init(
        settings: ServiceSettings, logger: Logger, verifier: (any AccessTokenVerifier)?,
        notifications: NotificationSettings?, tokens: (any ServiceTokenSource)?, directory: (any RecipientDirectory)?,
        pushClient: HTTPClient
    ) throws {
        let options = try notifications ?? NotificationSettings.fromEnvironment()
        // Everything that can fail comes before the database opens (ServiceCore opens it last).
        let smtp = try options.smtp.map { try SMTPClient(configuration: $0, logger: logger) }
        var resolvedDirectory = directory
        if resolvedDirectory == nil, let usersURL = settings.serviceURLs["users"], !usersURL.isEmpty {
            let source: any ServiceTokenSource =
                tokens ?? settings.serviceTokenProvider(logger: logger) ?? NoServiceCredentials()
            resolvedDirectory = UsersServiceDirectory(
                client: ServiceClient(service: "users", baseURL: usersURL), tokens: source)
        }
        core = try ServiceCore(
            name: NotificationsService.name, settings: settings, logger: logger, accessTable: NotificationsAccessTable.rules,
            migrations: NotificationsMigrations.all, verifier: verifier,
            encryptedColumns: NotificationsEncryptedColumns.all)
        self.options = options
        self.smtp = smtp
        let sealer = Sealer(cipher: core.cipher)
        let database = core.database
        store = NotificationStore(database: database, rows: NotificationRows(sealer: sealer))
        templates = TemplateStore(database: database, sealer: sealer)
        preferences = PreferenceStore(database: database)
        subscriptions = PushSubscriptionStore(database: database, sealer: sealer)
        vapidKeys = VAPIDKeyStore(database: database, sealer: sealer, configured: options.vapidPrivateKey)
        queue = DeliveryQueue(
            database: database, rows: NotificationRows(sealer: sealer), lease: options.lease, audit: core.audit)
        composer = NotificationComposer(
            store: store, preferences: preferences, subscriptions: subscriptions, audit: core.audit)
        dispatcher = DeliveryDispatcher(
            notifications: store, subscriptions: subscriptions, directory: resolvedDirectory ?? NoDirectory(),
            email: EmailSender(client: smtp, from: options.from),
            push: WebPushSender(client: pushClient, keys: vapidKeys, subject: options.vapidSubject))
        inbox = Inbox(database: database, logger: logger)
        deliveryMetrics = DeliveryMetrics(metrics: core.metrics)
    }

    public func makeRouter() -> Router<MeridianRequestContext> {
        let router = core.makeRouter()
        NotificationRoutes(database: database, store: store, templates: templates, composer: composer, audit: audit)
            .register(on: router)
        TemplateRoutes(database: database, store: templates, audit: audit).register(on: router)
        PreferenceRoutes(database: database, store: preferences, audit: audit).register(on: router)
        PushSubscriptionRoutes(
            database: database, store: subscriptions, keys: vapidKeys, audit: audit,
            allowLoopbackHTTP: options.allowLoopbackHTTPPush
        ).register(on: router)
        let orderEvents = OrderEventHandler(templates: templates, composer: composer)
        EventReceiver.mount(on: router, inbox: inbox) { envelope, sql in try await orderEvents.apply(envelope, on: sql) }
        return router
    }

    /// The delivery worker; `concurrency` 0 gives none.
    var worker: DeliveryWorker {
        DeliveryWorker(
            queue: queue, dispatcher: dispatcher, policy: options.retry, readiness: readiness, audit: audit,
            metrics: deliveryMetrics, logger: core.logger, batchSize: max(1, options.concurrency))
    }

    /// The HTTP server with the database, the delivery worker and the SMTP client and, before it accepts
    /// traffic, the migrations.
    public func makeApplication(
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        var services: [any Service] = []
        if options.concurrency > 0 { services.append(worker) }
        if let smtp { services.append(smtp) }
        return core.makeApplication(router: makeRouter(), services: services, onServerRunning: onServerRunning)
    }

    /// Applies the pending migrations; the database service must be running (`meridian migrate` runs it).
    @discardableResult
    public func migrate() async throws -> [String] { try await core.migrate() }
}

/// Without service credentials the service cannot ask users for addresses; such email deliveries fail (and are
/// retried, since configuring the credentials fixes them).
struct NoServiceCredentials: ServiceTokenSource {
    struct Missing: Error, CustomStringConvertible {
        var description: String { "no service client credentials are configured" }
    }
    func token() async throws -> String { throw Missing() }
    func invalidate(_ token: String) async {}
}

/// Without a users URL there is nobody to ask for addresses.
struct NoDirectory: RecipientDirectory {
    struct Unconfigured: Error {}
    func emailAddress(userID: String) async throws -> String? { throw Unconfigured() }
}
