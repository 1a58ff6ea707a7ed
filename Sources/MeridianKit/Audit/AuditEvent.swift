import Foundation
import NIOCore

/// How the audited action ended.
public enum AuditOutcome: String, Sendable, Codable, CaseIterable {
    case success, denied, failure
}

/// What happened: `action` is `<resource>.<verb>` in lower case (`order.create`, `user.login`, `request.deny`),
/// `changes` the change set (new values, never secrets), stored encrypted.
public struct AuditEvent: Sendable {
    public var action: String
    public var resourceType: String
    public var resourceID: String?
    public var outcome: AuditOutcome
    public var changes: JSONValue?

    public init(
        action: String, resourceType: String, resourceID: String?, outcome: AuditOutcome = .success,
        changes: JSONValue? = nil
    ) {
        self.action = action
        self.resourceType = resourceType
        self.resourceID = resourceID
        self.outcome = outcome
        self.changes = changes
    }
}

/// Who did it, and through which request: the verified token's subject, client and roles (nil for an anonymous
/// caller), the request id, the W3C trace id and the network address the request came from.
public struct AuditActor: Sendable, Equatable {
    public var subject: String?
    public var clientID: String?
    public var roles: [String]
    public var requestID: String?
    public var traceID: String?
    public var sourceAddress: String?

    /// The caller of the request being handled, bound by `AccessControlMiddleware` once it knows the caller, so
    /// that a repository deep below the handler records who asked without threading the request through.
    @TaskLocal public static var current: AuditActor?

    public init(
        subject: String?, clientID: String?, roles: some Sequence<String>, requestID: String? = nil,
        traceID: String? = nil, sourceAddress: String? = nil
    ) {
        self.subject = subject
        self.clientID = clientID
        self.roles = Array(Set(roles)).sorted()
        self.requestID = requestID
        self.traceID = traceID
        self.sourceAddress = sourceAddress
    }

    /// The caller of the request being handled. The trace id and the forwarding chain come from the task locals
    /// that `AccessControlMiddleware` binds for the request.
    public init(context: MeridianRequestContext) {
        let principal = context.principal
        self.init(
            subject: principal?.subject, clientID: principal?.clientID, roles: principal?.roles ?? [],
            requestID: context.requestID.isEmpty ? nil : context.requestID,
            traceID: TraceContext.current.flatMap { AuditActor.traceID(traceparent: $0.traceparent) },
            sourceAddress: AuditActor.sourceAddress(
                peer: context.remoteAddress, forwardedFor: AuditRequestSource.forwardedFor))
    }

    /// A background job of `service` (delivery workers, key rotation): no token, no request.
    public static func system(_ service: String) -> AuditActor {
        AuditActor(subject: "system:\(service)", clientID: nil, roles: [])
    }

    /// The same request acting for someone it has just authenticated (a successful sign-in or token grant names
    /// the user or client it authenticated, not the anonymous caller).
    public func acting(as subject: String?, clientID: String?, roles: some Sequence<String> = [String]()) -> AuditActor {
        var actor = self
        actor.subject = subject
        actor.clientID = clientID
        actor.roles = Array(Set(roles)).sorted()
        return actor
    }

    /// The trace id (second field) of a valid W3C `traceparent`.
    public static func traceID(traceparent: String) -> String? {
        let parts = traceparent.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[1].count == 32 else { return nil }
        return String(parts[1])
    }

    /// The peer's IP address; when the request came through a proxy (the gateway), the client that proxy saw
    /// first: `203.0.113.7 via 127.0.0.1`. The `Forwarded` element is only as trustworthy as the peer, which is
    /// why the peer is kept beside it.
    static func sourceAddress(peer: SocketAddress?, forwardedFor: String?) -> String? {
        let peerIP = peer?.ipAddress
        switch (forwardedFor, peerIP) {
        case (let forwarded?, let peer?): return "\(forwarded) via \(peer)"
        case (let forwarded?, nil): return forwarded
        case (nil, let peer): return peer
        }
    }
}
