import Foundation
import HTTPTypes
import Hummingbird

/// Who may call a route.
public enum RouteAccess: Sendable, Equatable {
    /// Anyone. A valid bearer token still attaches its principal; an invalid one is ignored.
    case `public`
    /// Any caller with a valid access token.
    case authenticated
    /// A caller holding at least one of these permissions. Handlers narrow `:own` variants further
    /// (`Principal.ownership(of:)`).
    case anyOf([Permission])
}

/// A service's one table of routes to access rules, keyed `"METHOD /path/{template}"` as Hummingbird prints
/// routes (`GET /api/orders/{id}`; `:id` is accepted and means the same). A route missing from the table is
/// refused to everyone by `AccessControlMiddleware`.
public struct RouteAccessTable: Sendable, ExpressibleByDictionaryLiteral {
    /// path template → method → rule: the middleware looks up without building a string per request.
    private var rules: [String: [HTTPRequest.Method: RouteAccess]] = [:]

    /// The operational routes every service has; every table marks them `.public`.
    public static let operationalRoutes = ["GET /healthz", "GET /readyz", "GET /metrics"]

    public init(_ rules: [String: RouteAccess]) {
        for route in RouteAccessTable.operationalRoutes { set(route, .public) }
        for (route, access) in rules { set(route, access) }
    }

    /// A route listed twice is a programming error: which of the two rules was meant cannot be guessed.
    public init(dictionaryLiteral elements: (String, RouteAccess)...) {
        var seen = Set<String>()
        for (route, _) in elements {
            let key = RouteAccessTable.normalized(route)
            precondition(seen.insert(key).inserted, "route \(key) is listed twice in the access table")
        }
        self.init(Dictionary(elements, uniquingKeysWith: { first, _ in first }))
    }

    /// The rule of a route, or nil when the table lacks it.
    public func access(method: HTTPRequest.Method, path: String) -> RouteAccess? {
        rules[path]?[method]
    }

    /// The rule of `"METHOD /path/{template}"`.
    public subscript(route: String) -> RouteAccess? {
        let (method, path) = RouteAccessTable.split(route)
        return access(method: method, path: path)
    }

    /// This table with the rules of `other` added; `other` wins where both name a route.
    public func merging(_ other: RouteAccessTable) -> RouteAccessTable {
        var merged = self
        for (path, methods) in other.rules {
            merged.rules[path, default: [:]].merge(methods) { _, new in new }
        }
        return merged
    }

    /// Every route in the table, `"METHOD /path"`, sorted.
    public var routes: [String] {
        rules.flatMap { path, methods in methods.keys.map { "\($0.rawValue) \(path)" } }.sorted()
    }

    /// Routes `router` serves that the table lacks (the operational ones aside), sorted. Each service's
    /// tests assert this is empty, so a new route cannot ship without a rule.
    public func missingRoutes<Context>(router: Router<Context>) -> [String] {
        router.routes
            .filter { access(method: $0.method, path: $0.path.description) == nil }
            .map { "\($0.method.rawValue) \($0.path.description)" }
            .filter { !RouteAccessTable.operationalRoutes.contains($0) }
            .sorted()
    }

    /// Rules naming a route `router` does not serve (usually a typo), the operational ones aside, sorted.
    public func unusedRules<Context>(router: Router<Context>) -> [String] {
        let served = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        return routes.filter { !served.contains($0) && !RouteAccessTable.operationalRoutes.contains($0) }
    }

    private mutating func set(_ route: String, _ access: RouteAccess) {
        let (method, path) = RouteAccessTable.split(route)
        rules[path, default: [:]][method] = access
    }

    private static func split(_ route: String) -> (HTTPRequest.Method, String) {
        let parts = route.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, let method = HTTPRequest.Method(String(parts[0])), parts[1].hasPrefix("/") else {
            preconditionFailure("access table key \"\(route)\" is not \"METHOD /path\"")
        }
        // RouterPath prints `:id` as `{id}`, exactly as the router names the matched route.
        return (method, RouterPath(String(parts[1])).description)
    }

    private static func normalized(_ route: String) -> String {
        let (method, path) = split(route)
        return "\(method.rawValue) \(path)"
    }
}

/// Applies a `RouteAccessTable` to every request the router matched: deny by default, bearer tokens verified
/// by `verifier`, RFC 6750 challenges on refusal, the principal attached to the context for the handlers.
///
/// Add it to the router before the routes it guards (Hummingbird applies router middleware only to routes added
/// after it). Requests matching no route pass through untouched to the router's 404.
public struct AccessControlMiddleware: RouterMiddleware {
    public typealias Context = MeridianRequestContext

    public let table: RouteAccessTable
    public let verifier: any AccessTokenVerifier
    /// Where 401 and 403 refusals go: a service's own audit log (`AuditDenials`), or for the gateway, which
    /// keeps none, its report to analytics; nil records nothing.
    public let denials: (any RequestDenialRecorder)?

    public init(
        table: RouteAccessTable, verifier: any AccessTokenVerifier, denials: (any RequestDenialRecorder)? = nil
    ) {
        self.table = table
        self.verifier = verifier
        self.denials = denials
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        // The trace context and the proxy's client address, for the audit records the handlers write.
        let trace = TraceContext.current ?? TraceContext(
            traceparent: request.headers[TraceContext.traceparentHeader],
            tracestate: request.headers[TraceContext.tracestateHeader])
        return try await TraceContext.$current.withValue(trace) {
            try await AuditRequestSource.$forwardedFor.withValue(AuditRequestSource.forwardedFor(request.headers)) {
                do {
                    return try await authorize(request, context: context, next: next)
                } catch let refusal as AccessRefusal {
                    if let denials, let route = context.endpointPath {
                        var refused = context
                        refused.principal = refusal.principal
                        await denials.record(
                            RequestDenial(
                                route: "\(request.method.rawValue) \(route)", status: Int(refusal.problem.status.code),
                                reason: refusal.reason, actor: AuditActor(context: refused)))
                    }
                    throw refusal.problem
                }
            }
        }
    }

    private func authorize(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let endpoint = context.endpointPath else { return try await next(request, context) }
        guard let access = table.access(method: request.method, path: endpoint) else {
            throw AccessRefusal(
                reason: "route-not-permitted", principal: nil,
                problem: Problem(
                    .forbidden, type: Problem.typeBase + "route-not-permitted", title: "Forbidden",
                    detail: "No access rule covers this route, so it is refused to everyone."))
        }
        var context = context
        let credential = BearerCredential(request.headers)

        if case .public = access {
            if case .token(let token) = credential, let principal = try? await verifier.verify(token) {
                context.principal = principal
            }
            return try await AuditActor.$current.withValue(AuditActor(context: context)) {
                try await next(request, context)
            }
        }

        let principal: Principal
        switch credential {
        case .none:
            throw AccessRefusal(
                reason: "unauthenticated", principal: nil,
                problem: Problem(
                    .unauthorized, type: Problem.typeBase + "unauthenticated", title: "Unauthorized",
                    detail: "This route needs an access token: send Authorization: Bearer <token>.",
                    headers: [.wwwAuthenticate: "Bearer"]))
        case .ambiguous:
            throw Problem(
                .badRequest, type: Problem.typeBase + "invalid-authorization", title: "Bad Request",
                detail: "Send exactly one Authorization header.",
                headers: [.wwwAuthenticate: #"Bearer error="invalid_request""#])
        case .token(let token):
            do {
                principal = try await verifier.verify(token)
            } catch AccessTokenError.keysUnavailable {
                throw Problem(
                    .serviceUnavailable, detail: "Access tokens cannot be verified right now; retry shortly.",
                    headers: [.retryAfter: "1"])
            } catch let error as AccessTokenError {
                throw AccessRefusal(
                    reason: "invalid-token", principal: nil, problem: Problem.invalidToken(error.description))
            } catch {
                throw AccessRefusal(
                    reason: "invalid-token", principal: nil,
                    problem: Problem.invalidToken("The access token could not be verified."))
            }
        }

        if case .anyOf(let permissions) = access, !principal.hasAny(permissions) {
            throw AccessRefusal(
                reason: "insufficient-permission", principal: principal,
                problem: Problem(
                    .forbidden, type: Problem.typeBase + "insufficient-permission", title: "Forbidden",
                    detail: "The access token does not grant a permission this route needs.",
                    headers: [.wwwAuthenticate: #"Bearer error="insufficient_scope""#]))
        }
        context.principal = principal
        return try await AuditActor.$current.withValue(AuditActor(context: context)) {
            try await next(request, context)
        }
    }
}

extension Problem {
    /// 401 for a token that was presented but refused (RFC 6750 section 3.1). `description` comes from
    /// `AccessTokenError`, whose texts contain no quote or backslash, as the quoted-string requires.
    static func invalidToken(_ description: String) -> Problem {
        Problem(
            .unauthorized, type: Problem.typeBase + "invalid-token", title: "Unauthorized", detail: description,
            headers: [.wwwAuthenticate: #"Bearer error="invalid_token", error_description="\#(description)""#])
    }
}

/// What the Authorization header of a request offers.
enum BearerCredential: Equatable {
    /// No bearer token (no header, or another scheme such as Basic client authentication).
    case none
    /// More than one Authorization header.
    case ambiguous
    case token(String)

    init(_ headers: HTTPFields) {
        let values = headers[values: .authorization]
        guard values.count <= 1 else {
            self = .ambiguous
            return
        }
        guard let value = values.first else {
            self = .none
            return
        }
        // RFC 6750 section 2.1: the scheme is case-insensitive; one or more spaces before the token.
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count >= 1, parts[0].lowercased() == "bearer" else {
            self = .none
            return
        }
        let token = parts.count == 2 ? String(parts[1].trimmingOptionalWhitespace) : ""
        self = .token(token)
    }
}

extension MeridianRequestContext {
    /// The verified caller; a 401 problem for an anonymous call. For handlers of `.public` routes that act
    /// differently for signed-in callers, and as a guard in every other handler.
    public func requirePrincipal() throws -> Principal {
        guard let principal else {
            throw Problem(
                .unauthorized, type: Problem.typeBase + "unauthenticated", title: "Unauthorized",
                detail: "This route needs an access token: send Authorization: Bearer <token>.",
                headers: [.wwwAuthenticate: "Bearer"])
        }
        return principal
    }
}
