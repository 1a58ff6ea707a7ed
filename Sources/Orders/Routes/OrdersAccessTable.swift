import MeridianKit

/// The one table of the orders service: every route and the permissions that let a request reach its handler
/// (docs/identity.md). Deny by default: a route missing here is refused to everyone, and a test fails on it.
///
/// The `:own` variants let a request in; the handlers then narrow it to the subject's own orders (`OrderAccess`).
enum OrdersAccessTable {
    static let read = RouteAccess.anyOf([.ordersRead, .ordersReadOwn])
    static let write = RouteAccess.anyOf([.ordersWrite, .ordersWriteOwn])

    static let rules: RouteAccessTable = [
        "GET /api/orders": read,
        "GET /api/orders/{id}": read,
        "GET /api/orders/{id}/payments": read,
        "POST /api/orders": write,
        "PUT /api/orders/{id}": write,
        "DELETE /api/orders/{id}": write,
        "POST /api/orders/{id}/payments": write,
        "GET /api/audit/orders": .anyOf([.auditRead]),
    ]
}
