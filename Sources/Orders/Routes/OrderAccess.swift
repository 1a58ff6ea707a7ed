import MeridianKit

/// The `:own` rules of the orders routes, for a caller the access table already let in.
///
/// A caller holding only `orders:read:own` / `orders:write:own` (a customer) acts on the orders of its own
/// subject: someone else's order is the same 404 as a missing one, lists are forced to the subject, and an
/// order may be placed only for the subject. Moves that belong to the back office (fulfilment, completion,
/// refunds) need the unrestricted `orders:write`.
struct OrderAccess {
    let principal: Principal

    init(_ context: MeridianRequestContext) throws {
        principal = try context.requirePrincipal()
    }

    var readScope: OwnershipScope { principal.ownership(of: .ordersRead) }
    var writeScope: OwnershipScope { principal.ownership(of: .ordersWrite) }

    /// The same problem as for an order that does not exist, so that its existence is not revealed.
    static let notFound = Problem.notFound("The order")

    func authorizeRead(_ order: Order) throws {
        try readScope.authorize(owner: order.userID, notFound: OrderAccess.notFound)
    }

    /// 404 for someone else's order, unless the caller may read it anyway: hiding what it can already see
    /// would only confuse it, so that case is 403.
    func authorizeWrite(_ order: Order) throws {
        let hidden = !readScope.permits(owner: order.userID)
        try writeScope.authorize(
            owner: order.userID,
            notFound: hidden
                ? OrderAccess.notFound : OrderProblems.forbidden("The access token may change only its own orders."))
    }

    /// 403 unless the caller may place an order for `userID`.
    func authorizePlacing(for userID: String) throws {
        guard writeScope.permits(owner: userID) else {
            throw OrderProblems.forbidden("Orders may be placed only for the user the access token belongs to.")
        }
    }

    /// 403 unless the caller holds the unrestricted `orders:write`; `action` names what needs it.
    func requireBackOffice(_ action: String) throws {
        guard writeScope == .all else {
            throw OrderProblems.forbidden("\(action) needs the orders:write permission.")
        }
    }

    /// Which orders a list may show, given the `user_id` filter the request asked for.
    func listScope(requested userID: String?) throws -> ListScope {
        guard let owner = try readScope.listOwner() else { return .orders(userID: userID) }
        // Another user's orders are invisible, as if there were none: an empty page, not a 403.
        if let userID, userID != owner { return .nothing }
        return .orders(userID: owner)
    }

    enum ListScope: Equatable {
        /// The orders of `userID`, or of every user when nil.
        case orders(userID: String?)
        case nothing
    }
}
