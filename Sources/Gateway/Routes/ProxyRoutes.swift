import HTTPTypes
import Hummingbird
import MeridianKit

/// The proxied prefixes as router routes, so metrics label them by prefix (`/api/users/**`) and every other
/// path falls through to the router's 404 problem.
struct ProxyRoutes: Sendable {
    let proxy: ReverseProxy
    let upstreams: [String: Upstream]

    static let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]

    /// The route templates of one prefix: itself and everything below it.
    static func paths(of prefix: String) -> [String] { [prefix, prefix + "/**"] }

    func register(on router: Router<MeridianRequestContext>) {
        for route in Upstream.routes {
            guard let upstream = upstreams[route.service] else { continue }
            let proxy = proxy
            for method in ProxyRoutes.methods {
                for path in ProxyRoutes.paths(of: route.prefix) {
                    router.on(RouterPath(path), method: method) { request, context in
                        try await proxy.forward(request, context: context, to: upstream)
                    }
                }
            }
        }
    }
}
