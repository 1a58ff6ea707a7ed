import Foundation
import Hummingbird
import Logging
import MeridianKit

/// `/api/orders` and `/api/orders/{id}`: place, list, read, change, cancel or refund orders.
struct OrderRoutes: Sendable {
    let repository: any OrderRepository
    let users: any UserDirectory
    let payments: PaymentFlow

    func register(on router: Router<MeridianRequestContext>) {
        router.post("/api/orders") { request, context in try await create(request, context) }
        router.get("/api/orders") { request, context in try await list(request, context) }
        router.get("/api/orders/:id") { _, context in try await show(context) }
        router.put("/api/orders/:id") { request, context in try await update(request, context) }
        router.delete("/api/orders/:id") { request, context in try await delete(request, context) }
    }

    func create(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        var body = try await request.fieldReader(context: context)
        let input = try OrderInput.newOrder(&body)
        try OrderAccess(context).authorizePlacing(for: input.userID)
        try await requireUser(input.userID, request, context)
        let order = try Order.place(
            id: Identifier.make(prefix: "ord"), userID: input.userID, currency: input.currency, items: input.items,
            shippingAddress: input.shippingAddress, now: Date())
        try await repository.insert(order)
        context.logger.info(
            "order placed",
            metadata: [
                "order_id": .string(order.id), "user_id": .string(order.userID), "items": "\(order.items.count)",
            ])
        var headers = OrderLookup.headers(for: order)
        headers[.location] = "/api/orders/\(order.id)"
        return try Response.json(OrderResource(order: order), status: .created, headers: headers)
    }

    /// 422 on `user_id` when the users service does not know the user; 503 when it cannot say.
    private func requireUser(_ userID: String, _ request: Request, _ context: MeridianRequestContext) async throws {
        let exists: Bool
        do {
            exists = try await users.exists(
                userID: userID, requestID: context.requestID, authorization: request.headers[.authorization])
        } catch {
            context.logger.warning(
                "cannot check the user: the users service is unavailable",
                metadata: ["error": "\(String(reflecting: type(of: error)))"])
            throw Problem.upstreamUnavailable("users")
        }
        guard exists else {
            throw Problem.validation([FieldError(field: "user_id", message: "does not name an existing user")])
        }
    }

    func list(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        var query = QueryReader(request, known: PageRequest.parameters.union(["user_id", "status"]))
        let userID = query.string("user_id", maxLength: 64)
        let status = query.oneOf("status", OrderStatus.allCases.map(\.rawValue)).flatMap(OrderStatus.init(rawValue:))
        let page = PageRequest(reading: &query)
        try query.finish()
        switch try OrderAccess(context).listScope(requested: userID) {
        case .nothing:
            return try Response.json(Page<OrderResource>(data: [], nextCursor: nil))
        case .orders(let userID):
            let orders = try await repository.orders(userID: userID, status: status, page: page)
            return try Response.json(page.page(orders.map(OrderResource.init(order:)), id: \.order.id))
        }
    }

    func show(_ context: MeridianRequestContext) async throws -> Response {
        let order = try await repository.existingOrder(context)
        try OrderAccess(context).authorizeRead(order)
        return try Response.json(OrderResource(order: order), headers: OrderLookup.headers(for: order))
    }

    func update(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        let access = try OrderAccess(context)
        let order = try await repository.existingOrder(context)
        try access.authorizeWrite(order)
        var body = try await request.fieldReader(context: context)
        let change = try OrderInput.change(&body)
        // A customer edits its pending order; moving an order along is the back office's job.
        if change.status != nil { try access.requireBackOffice("Changing the status of an order") }
        try EntityTag.checkIfMatch(request, currentVersion: order.version)

        var updated = order
        if change.items != nil || change.shippingAddress != nil {
            guard OrderStateMachine.allowsEditing(order.status) else {
                throw OrderProblems.wrongStatus(
                    order.status,
                    detail: "Items and the shipping address can change only while the order is pending; "
                        + "it is \(order.status.rawValue).")
            }
        }
        if let items = change.items { try updated.replaceItems(items) }
        if let address = change.shippingAddress { updated.shippingAddress = address }
        if let requested = change.status {
            guard let next = OrderStateMachine.requestedMove(from: order.status, to: requested) else {
                throw OrderProblems.wrongStatus(
                    order.status,
                    detail: "An order that is \(order.status.rawValue) cannot be moved to \(requested.rawValue). "
                        + "PUT moves paid orders to fulfilled and fulfilled orders to completed; payments, "
                        + "cancellations and refunds have their own routes.")
            }
            updated.status = next
        }
        let stored = try await payments.settlingAbandoned(orderID: order.id, logger: context.logger) {
            try await repository.update(updated, expectedVersion: order.version, now: Date())
        }
        context.logger.info(
            "order updated", metadata: ["order_id": .string(stored.id), "status": .string(stored.status.rawValue)])
        return try Response.json(OrderResource(order: stored), headers: OrderLookup.headers(for: stored))
    }

    /// Withdraws an order: cancels it while pending, refunds it once paid. Orders are never deleted.
    func delete(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        let access = try OrderAccess(context)
        let order = try await repository.existingOrder(context)
        try access.authorizeWrite(order)
        let deletion = OrderStateMachine.deletion(of: order.status)
        // A customer may cancel its order while no money has moved; giving money back is a back-office decision.
        if deletion == .refund { try access.requireBackOffice("Refunding a paid order") }
        try EntityTag.checkIfMatch(request, currentVersion: order.version)
        let result: Order
        switch deletion {
        case .unchanged:
            result = order
        case .refused:
            throw OrderProblems.wrongStatus(
                order.status,
                detail: "An order that is \(order.status.rawValue) can no longer be cancelled or refunded.")
        case .cancel:
            var cancelled = order
            cancelled.status = .cancelled
            result = try await payments.settlingAbandoned(orderID: order.id, logger: context.logger) {
                try await repository.update(cancelled, expectedVersion: order.version, now: Date())
            }
        case .refund:
            let recorded = try await payments.refund(
                orderID: order.id, expectedVersion: order.version, logger: context.logger)
            guard recorded.attempt.status == .succeeded else { throw OrderProblems.refundFailed(recorded.attempt) }
            result = recorded.order
        }
        context.logger.info(
            "order withdrawn", metadata: ["order_id": .string(result.id), "status": .string(result.status.rawValue)])
        return try Response.json(OrderResource(order: result), headers: OrderLookup.headers(for: result))
    }
}
