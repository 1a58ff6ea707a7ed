import MeridianKit

/// The gateway's one table of routes to access rules (docs/identity.md). For the routes it proxies the gateway
/// only checks that a token is genuine; permissions are each service's business, so those rules are `.public`
/// or `.authenticated`. Its own merged audit list checks its permission here too.
///
/// The public routes are an explicit list: a prefix added to `Upstream.routes` is authenticated unless it is
/// named here.
enum GatewayAccess {
    /// Prefixes whose every route and method is public: the authorization server's endpoints, which a caller
    /// uses to obtain a token in the first place, and its metadata and JWKS; and the analytics ingestion API,
    /// whose callers (Segment SDKs) authenticate with a write key that analytics checks.
    static let publicPrefixes: Set<String> = ["/oauth", "/.well-known", "/v1"]

    /// Single public routes under `/api`. `POST /api/users` is public here because the users service decides
    /// it (self-registration, off by default, or a token with `users:write`); it verifies any token sent.
    static let publicRoutes: Set<String> = ["GET /api/openapi.yaml", "POST /api/users"]

    /// Every route the gateway's router serves besides the operational ones, which `RouteAccessTable` adds.
    static let table: RouteAccessTable = {
        var rules: [String: RouteAccess] = [:]
        for route in publicRoutes { rules[route] = .public }
        // The gateway's own merged audit list: four calls to the services per request, so a caller without
        // `audit:read` is refused here rather than by each of them (they check it again).
        rules["GET \(AuditTrailRoute.path)"] = .anyOf([.auditRead])
        for route in Upstream.routes {
            let access: RouteAccess = publicPrefixes.contains(route.prefix) ? .public : .authenticated
            for method in ProxyRoutes.methods {
                for path in ProxyRoutes.paths(of: route.prefix) {
                    let key = "\(method.rawValue) \(path)"
                    if rules[key] == nil { rules[key] = access }
                }
            }
        }
        return RouteAccessTable(rules)
    }()
}
