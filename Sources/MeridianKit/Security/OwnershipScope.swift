/// How far one permission reaches for a principal: over every resource, over the subject's own only, or not at
/// all. Handlers use it for the `:own` rule of docs/identity.md: someone else's resource is **404**, never 403,
/// so its existence is not revealed, and lists are filtered to the subject.
public enum OwnershipScope: Sendable, Equatable {
    case all
    /// Only resources owned by this subject.
    case own(String)
    case none

    /// Whether a resource owned by `owner` is within reach.
    public func permits(owner: String) -> Bool {
        switch self {
        case .all: true
        case .own(let subject): subject == owner
        case .none: false
        }
    }

    /// The owner a list must be filtered to, or nil when every owner's resources may be listed.
    /// Throws 403 for `.none` (the route table let through a principal who holds neither variant).
    public func listOwner() throws -> String? {
        switch self {
        case .all: return nil
        case .own(let subject): return subject
        case .none: throw OwnershipScope.forbidden
        }
    }

    /// Throws unless a resource owned by `owner` is within reach: `notFound` (the same problem the handler
    /// throws for a resource that does not exist) for someone else's resource under `.own`, 403 for `.none`.
    public func authorize(owner: String, notFound: @autoclosure () -> Problem) throws {
        switch self {
        case .all: return
        case .own(let subject): if subject != owner { throw notFound() }
        case .none: throw OwnershipScope.forbidden
        }
    }

    static let forbidden = Problem(
        .forbidden, type: Problem.typeBase + "insufficient-permission", title: "Forbidden",
        detail: "The access token does not grant a permission this request needs.",
        headers: [.wwwAuthenticate: #"Bearer error="insufficient_scope""#])
}

extension Principal {
    /// The reach of `permission` (given as the unrestricted one, e.g. `.ordersRead`): `.all` when the principal
    /// holds it, `.own(subject)` when it holds only the `:own` variant, `.none` otherwise.
    public func ownership(of permission: Permission) -> OwnershipScope {
        if has(permission.unrestricted) { return .all }
        if has(permission.own) { return .own(subject) }
        return .none
    }
}
