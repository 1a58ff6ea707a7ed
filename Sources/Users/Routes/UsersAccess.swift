import MeridianKit

/// The users service's one table of routes to access rules (docs/identity.md). A route missing here is refused
/// to everyone, and `UsersAccessTests` fails on any route the router has that this table lacks.
enum UsersAccess {
    static func table(selfRegistration: Bool) -> RouteAccessTable {
        [
            // The audit log is read-only through the API (docs/audit.md).
            "GET /api/audit/users": .anyOf([.auditRead]),
            // Discovery and the OAuth endpoints authenticate clients and users themselves.
            "GET /.well-known/oauth-authorization-server": .public,
            "GET /.well-known/openid-configuration": .public,
            "GET /.well-known/jwks.json": .public,
            "GET /oauth/authorize": .public,
            "POST /oauth/authorize": .public,
            "POST /oauth/token": .public,
            "POST /oauth/revoke": .public,
            "POST /oauth/introspect": .public,

            "POST /api/users": selfRegistration ? .public : .anyOf([.usersWrite]),
            // `:own` holders get through; the handlers confine them to their own account (404 for others).
            "GET /api/users": .anyOf([.usersRead, .usersReadOwn]),
            "GET /api/users/{id}": .anyOf([.usersRead, .usersReadOwn]),
            "PATCH /api/users/{id}": .anyOf([.usersWrite, .usersWriteOwn]),
            "DELETE /api/users/{id}": .anyOf([.usersWrite]),
            "PUT /api/users/{id}/roles": .anyOf([.rolesManage]),

            // Whoever may read accounts may read what their roles mean.
            "GET /api/roles": .anyOf([.rolesManage, .usersRead]),
            "GET /api/roles/{name}": .anyOf([.rolesManage, .usersRead]),
            "POST /api/roles": .anyOf([.rolesManage]),
            "PUT /api/roles/{name}": .anyOf([.rolesManage]),
            "DELETE /api/roles/{name}": .anyOf([.rolesManage]),

            "GET /api/clients": .anyOf([.clientsManage]),
            "POST /api/clients": .anyOf([.clientsManage]),
        ]
    }
}
