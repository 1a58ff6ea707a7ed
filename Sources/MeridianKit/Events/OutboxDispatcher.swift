import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// Delivers a producing service's outbox to its subscribers (DESIGN.md section 8): claims due deliveries with a
/// lease, POSTs each envelope to the subscriber's `/internal/events` over the kernel's internal HTTP client
/// with a client-credentials bearer token, and records the answer: 2xx delivered; anything else (or no answer)
/// retried with exponential backoff and full jitter, and dead after the policy's bound.
///
/// One per producing service, run by its service group. Several replicas may run at once: on PostgreSQL their
/// claims never overlap; a crashed replica's claims are taken again when their lease expires. Delivery is at
/// least once; the consumer's inbox makes the effect exactly once.
public struct OutboxDispatcher: Service {
    public let producer: String
    public let store: OutboxStore
    public let policy: OutboxDeliveryPolicy
    /// This dispatcher's name on the leases it holds.
    public let owner: String
    let cipher: FieldCipher
    let subscriberURL: @Sendable (String) throws -> String
    let tokens: any ServiceTokenSource
    let metrics: OutboxMetrics
    let readiness: Readiness?
    let client: HTTPClient
    let logger: Logger

    /// `subscriberURL` gives a subscriber's base URL (`settings.url(of:)`). With `readiness`, the dispatcher
    /// starts once the service is ready (its migrations applied and its cipher loaded).
    public init(
        producer: String, database: any Database, cipher: FieldCipher,
        subscriberURL: @escaping @Sendable (String) throws -> String, tokens: any ServiceTokenSource,
        metrics: ServiceMetrics, policy: OutboxDeliveryPolicy = OutboxDeliveryPolicy(), readiness: Readiness? = nil,
        client: HTTPClient = ServiceClient.internalClient, logger: Logger
    ) {
        self.producer = producer
        self.store = OutboxStore(database: database)
        self.policy = policy
        self.owner = Identifier.make(prefix: "dsp_\(producer)")
        self.cipher = cipher
        self.subscriberURL = subscriberURL
        self.tokens = tokens
        self.metrics = OutboxMetrics(metrics: metrics)
        self.readiness = readiness
        self.client = client
        self.logger = logger
    }

    /// What one round did.
    public struct Round: Sendable, Equatable {
        public var claimed = 0
        public var delivered = 0
        public var retried = 0
        public var dead = 0
        public init() {}
    }

    public func run() async throws {
        if let readiness {
            while !readiness.isReady {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(50)) }
            }
        }
        logger.info("outbox dispatcher started", metadata: ["dispatcher": .string(owner)])
        // A round in progress finishes on graceful shutdown (bounded by the request timeout); only the wait
        // between rounds is cut short.
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var idle = true
            do {
                let round = try await dispatchDue()
                idle = round.claimed < policy.batchSize
                metrics.record(try await store.backlog(), now: Date())
            } catch {
                logger.error("outbox dispatch round failed", metadata: ["error": .string(String(describing: error))])
            }
            if idle { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: policy.pollInterval) } }
        }
        logger.info("outbox dispatcher stopped", metadata: ["dispatcher": .string(owner)])
    }

    /// Claims the deliveries due at `now` and delivers them concurrently. Tests drive this with their own clock.
    @discardableResult
    public func dispatchDue(now: Date = Date()) async throws -> Round {
        let claims = try await store.claim(
            owner: owner, limit: policy.batchSize, now: now,
            leaseUntil: now.addingTimeInterval(OutboxDeliveryPolicy.seconds(policy.lease)))
        var round = Round()
        round.claimed = claims.count
        guard !claims.isEmpty else { return round }
        let events = try await store.events(ids: claims.map(\.eventID))
        let results = await withTaskGroup(of: AttemptResult.self, returning: [AttemptResult].self) { group in
            for claim in claims {
                group.addTask { await self.attempt(claim, event: events[claim.eventID], now: now) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for result in results {
            switch result {
            case .delivered: round.delivered += 1
            case .retried: round.retried += 1
            case .dead: round.dead += 1
            case .abandoned: break
            }
        }
        return round
    }

    enum AttemptResult: Sendable {
        case delivered, retried, dead
        /// Cancelled or the lease was lost: nothing recorded; the lease's expiry brings it back.
        case abandoned
    }

    private func attempt(_ claim: OutboxStore.Claim, event: OutboxStore.StoredEvent?, now: Date) async -> AttemptResult {
        let failure: String
        do {
            guard let event else { throw DeliveryFailure(reason: "the event row is missing") }
            try await deliver(event, to: claim.subscriber)
            guard try await store.markDelivered(claim, owner: owner, now: Date()) else { return .abandoned }
            metrics.delivered(claim.subscriber)
            logger.debug(
                "event delivered",
                metadata: ["event_id": .string(claim.eventID), "subscriber": .string(claim.subscriber)])
            return .delivered
        } catch let error as DeliveryFailure {
            failure = error.reason
        } catch {
            failure = String(describing: error)
        }
        if Task.isCancelled { return .abandoned }
        var generator = SystemRandomNumberGenerator()
        let attempts = claim.attempts + 1
        let retryAt = policy.nextAttempt(
            afterAttempts: attempts, createdAt: claim.createdAt, now: now, using: &generator)
        let metadata: Logger.Metadata = [
            "event_id": .string(claim.eventID), "subscriber": .string(claim.subscriber),
            "attempts": .stringConvertible(attempts), "error": .string(failure),
        ]
        do {
            guard try await store.markFailed(claim, owner: owner, error: failure, retryAt: retryAt) else {
                return .abandoned
            }
        } catch {
            logger.error("recording a failed delivery failed", metadata: metadata)
            return .abandoned
        }
        if retryAt == nil {
            metrics.dead(claim.subscriber)
            logger.error("event delivery is dead after its last attempt", metadata: metadata)
            return .dead
        }
        metrics.retried(claim.subscriber)
        logger.warning("event delivery failed; will retry", metadata: metadata)
        return .retried
    }

    struct DeliveryFailure: Error {
        let reason: String
    }

    private func deliver(_ event: OutboxStore.StoredEvent, to subscriber: String) async throws {
        let baseURL: String
        do {
            baseURL = try subscriberURL(subscriber)
        } catch {
            throw DeliveryFailure(reason: "the \(subscriber) service URL is not configured")
        }
        let payload: JSONValue
        do {
            payload = try JSONValue.parse(
                try cipher.openBytes(event.sealedPayload, table: "outbox_events", column: "payload", rowID: event.id))
        } catch {
            throw DeliveryFailure(reason: "the payload cannot be opened")
        }
        let envelope = EventEnvelope(
            id: event.id, type: event.type, occurredAt: event.occurredAt, producer: producer,
            traceparent: event.traceparent, tracestate: event.tracestate, payload: payload)
        let token: String
        do {
            token = try await tokens.token()
        } catch {
            throw DeliveryFailure(reason: "no service token: \(error)")
        }
        let timeout = TimeAmount.nanoseconds(Int64(OutboxDeliveryPolicy.seconds(policy.requestTimeout) * 1e9))
        // A client span continuing the event's stored trace; the subscriber's server span becomes its child.
        let stored = TraceContext(traceparent: event.traceparent, tracestate: event.tracestate)
        let reply = try await OutboundHTTPSpan.delivering(
            eventID: event.id, type: event.type, producer: producer, subscriber: subscriber, continuing: stored
        ) { span -> ServiceClient.Reply in
            let headers = [("Authorization", "Bearer \(token)")] + span.traceHeaders(for: client, orStored: stored)
            let reply: ServiceClient.Reply
            do {
                reply = try await ServiceClient(service: subscriber, baseURL: baseURL, client: client, timeout: timeout)
                    .send(.POST, EventReceiver.path, headers: headers, body: ByteBuffer(bytes: envelope.serialized()))
            } catch {
                throw DeliveryFailure(reason: "the \(subscriber) service is unreachable")
            }
            span.record(status: reply.status)
            return reply
        }
        switch reply.status {
        case 200..<300:
            return
        case 401:
            await tokens.invalidate(token)
            throw DeliveryFailure(reason: "HTTP 401: the service token was refused")
        default:
            throw DeliveryFailure(reason: "HTTP \(reply.status)")
        }
    }
}
