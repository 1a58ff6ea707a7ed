import Logging
import ServiceLifecycle

/// What a producing service needs to publish events: its outbox (written in its transactions) and the
/// dispatcher that delivers it (run beside its server). Built from the service's own pieces; the service lists
/// `OutboxMigrations.all` among its migrations and `Outbox.encryptedColumns` among its encrypted columns.
public struct EventPublishing: Sendable {
    public let outbox: Outbox
    /// Nil when the service has no credentials to call other services with (no `serviceClient` in its settings
    /// and no `tokens` given): events then wait in the outbox, pending, until a dispatcher with credentials runs.
    public let dispatcher: OutboxDispatcher?

    public init(
        producer: String, database: any Database, cipher: FieldCipher, settings: ServiceSettings,
        metrics: ServiceMetrics, readiness: Readiness, logger: Logger, tokens: (any ServiceTokenSource)? = nil,
        policy: OutboxDeliveryPolicy = OutboxDeliveryPolicy(), subscriptions: EventSubscriptions = .platform
    ) {
        outbox = Outbox(producer: producer, cipher: cipher, subscriptions: subscriptions)
        guard let tokens = tokens ?? settings.serviceTokenProvider(logger: logger) else {
            logger.warning(
                "no service client credentials: events stay in the outbox until they are configured",
                metadata: ["settings": "MERIDIAN_SERVICE_CLIENT_ID, MERIDIAN_SERVICE_CLIENT_SECRET"])
            dispatcher = nil
            return
        }
        dispatcher = OutboxDispatcher(
            producer: producer, database: database, cipher: cipher,
            subscriberURL: { service in try settings.url(of: service) }, tokens: tokens, metrics: metrics,
            policy: policy, readiness: readiness, logger: logger)
        OutboxMetrics(metrics: metrics).register(subscribers: subscriptions.allSubscribers)
    }

    /// The same, from a `ServiceCore`.
    public init(
        core: ServiceCore, tokens: (any ServiceTokenSource)? = nil, policy: OutboxDeliveryPolicy = OutboxDeliveryPolicy(),
        subscriptions: EventSubscriptions = .platform
    ) {
        self.init(
            producer: core.name, database: core.database, cipher: core.cipher, settings: core.settings,
            metrics: core.metrics, readiness: core.readiness, logger: core.logger, tokens: tokens, policy: policy,
            subscriptions: subscriptions)
    }

    /// The services to run beside the server (the dispatcher, when there is one).
    public var services: [any Service] { dispatcher.map { [$0] } ?? [] }
}
