import HTTPTypes
import Hummingbird
import MeridianKit

/// The proxied prefixes as router routes, so metrics label them by prefix (`/api/users/**`) and every other
/// path falls through to the router's 404 problem.
struct ProxyRoutes: Sendable {
    let proxy: ReverseProxy
    let upstreams: [String: Upstream]
    /// nil when rate limiting is switched off.
    let rateLimits: RateLimitGate?

    static let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]

    /// The route templates of one prefix: itself and everything below it.
    static func paths(of prefix: String) -> [String] { [prefix, prefix + "/**"] }

    func register(on router: Router<MeridianRequestContext>) {
        for route in Upstream.routes {
            guard let upstream = upstreams[route.service] else { continue }
            let proxy = proxy
            let rateLimits = rateLimits
            for method in ProxyRoutes.methods {
                let routeClass = RouteClass.of(method: method, prefix: route.prefix, service: route.service)
                for path in ProxyRoutes.paths(of: route.prefix) {
                    router.on(RouterPath(path), method: method) { request, context in
                        if let principal = context.principal {
                            UsageCaller.scope?.set(subject: principal.subject, clientID: principal.clientID)
                        }
                        // Rate limits first: a refused request must not take a slot of the upstream.
                        let limitHeaders = try await rateLimits?.check(routeClass, context: context) ?? [:]
                        var response: Response
                        if let guards = upstream.guards {
                            response = try await guards.guarded(routeClass) {
                                try await proxy.forward(request, context: context, to: upstream)
                            }
                        } else {
                            response = try await proxy.forward(request, context: context, to: upstream)
                        }
                        for field in limitHeaders { response.headers[field.name] = field.value }
                        return response
                    }
                }
            }
        }
    }
}
