/// A permission, `resource:action`, with `:own` variants that allow acting only on the subject's own
/// resources (docs/identity.md). Any string decodes, so a token naming a permission this build does not know
/// still verifies; such a permission simply matches no route.
public struct Permission: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }
    public static func < (lhs: Permission, rhs: Permission) -> Bool { lhs.rawValue < rhs.rawValue }

    public static let usersRead = Permission("users:read")
    public static let usersReadOwn = Permission("users:read:own")
    public static let usersWrite = Permission("users:write")
    public static let usersWriteOwn = Permission("users:write:own")
    public static let rolesManage = Permission("roles:manage")
    public static let clientsManage = Permission("clients:manage")
    public static let ordersRead = Permission("orders:read")
    public static let ordersReadOwn = Permission("orders:read:own")
    public static let ordersWrite = Permission("orders:write")
    public static let ordersWriteOwn = Permission("orders:write:own")
    public static let notificationsSend = Permission("notifications:send")
    public static let notificationsRead = Permission("notifications:read")
    public static let notificationsReadOwn = Permission("notifications:read:own")
    /// Marking one's own in-app messages read, one's own preferences and push subscriptions.
    public static let notificationsWriteOwn = Permission("notifications:write:own")
    /// Templates, dead letters and re-sends.
    public static let notificationsManage = Permission("notifications:manage")
    public static let analyticsRead = Permission("analytics:read")
    public static let analyticsWrite = Permission("analytics:write")
    public static let auditRead = Permission("audit:read")
    /// Delivering domain events to a consuming service's inbox (service clients only).
    public static let eventsDeliver = Permission("events:deliver")

    /// Every permission Meridian defines. Custom roles may only be made of these.
    public static let all: [Permission] = [
        .usersRead, .usersReadOwn, .usersWrite, .usersWriteOwn, .rolesManage, .clientsManage,
        .ordersRead, .ordersReadOwn, .ordersWrite, .ordersWriteOwn,
        .notificationsSend, .notificationsRead, .notificationsReadOwn, .notificationsWriteOwn, .notificationsManage,
        .analyticsRead, .analyticsWrite, .auditRead, .eventsDeliver,
    ]

    /// Whether Meridian defines this permission.
    public var isKnown: Bool { Permission.all.contains(self) }

    private static let ownSuffix = ":own"

    /// Whether this is an `:own` variant.
    public var isOwn: Bool { rawValue.hasSuffix(Permission.ownSuffix) }

    /// The `:own` variant of this permission (itself when it already is one).
    public var own: Permission { isOwn ? self : Permission(rawValue + Permission.ownSuffix) }

    /// The unrestricted permission of an `:own` variant (itself when it is not one).
    public var unrestricted: Permission {
        isOwn ? Permission(String(rawValue.dropLast(Permission.ownSuffix.count))) : self
    }

    /// The resource part, `orders` for `orders:read:own`.
    public var resource: Substring { rawValue.prefix { $0 != ":" } }

    /// Whether the action is a read (`…:read` or `…:read:own`).
    public var isRead: Bool { unrestricted.rawValue.hasSuffix(":read") }
}

/// The roles every installation has. Their permissions are fixed here; custom roles live in the users service.
public enum BuiltInRole: String, CaseIterable, Sendable, Codable {
    /// Every permission.
    case admin
    /// Reads everything, changes nothing.
    case support
    /// Their own account, orders and notifications.
    case customer
    /// Granted to client-credentials clients (the services themselves and scripts).
    case service

    public var permissions: Set<Permission> {
        switch self {
        case .admin:
            Set(Permission.all)
        case .support:
            Set(Permission.all.filter { $0.isRead && !$0.isOwn })
        case .customer:
            [
                .usersReadOwn, .usersWriteOwn, .ordersReadOwn, .ordersWriteOwn, .notificationsReadOwn,
                .notificationsWriteOwn,
            ]
        case .service:
            [.usersRead, .ordersRead, .notificationsSend, .analyticsWrite, .eventsDeliver]
        }
    }
}
