import Hummingbird
import MeridianKit

/// `/api/orders/{id}/payments`: pay a pending order, list its payment attempts.
struct PaymentRoutes: Sendable {
    let repository: any OrderRepository
    let payments: PaymentFlow

    func register(on router: Router<MeridianRequestContext>) {
        router.post("/api/orders/:id/payments") { request, context in try await create(request, context) }
        router.get("/api/orders/:id/payments") { request, context in try await list(request, context) }
    }

    func create(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        let orderID = try OrderLookup.orderID(context)
        let access = try OrderAccess(context)
        // A caller restricted to its own orders learns nothing, not even a validation error, about another's.
        if access.writeScope != .all { try access.authorizeWrite(try await repository.existingOrder(context)) }
        var body = try await request.fieldReader(context: context)
        let paymentMethod = body.string("payment_method", maxLength: 100)
        if let paymentMethod, let problem = payments.provider.problem(withPaymentMethod: paymentMethod) {
            body.fail("payment_method", problem)
        }
        try body.finish()
        guard let paymentMethod else { throw Problem.validation(body.errors) }

        let recorded = try await payments.charge(orderID: orderID, paymentMethod: paymentMethod, logger: context.logger)
        switch recorded.attempt.status {
        case .succeeded:
            return try Response.json(PaymentAttemptResource(attempt: recorded.attempt), status: .created)
        case .declined:
            throw OrderProblems.paymentDeclined(recorded.attempt)
        case .failed, .processing:
            throw OrderProblems.paymentFailed(recorded.attempt)
        }
    }

    func list(_ request: Request, _ context: MeridianRequestContext) async throws -> Response {
        try QueryReader(request, known: []).finish()
        let order = try await repository.existingOrder(context)
        try OrderAccess(context).authorizeRead(order)
        let attempts = try await repository.paymentAttempts(orderID: order.id)
        return try Response.json(Page(data: attempts.map(PaymentAttemptResource.init(attempt:)), nextCursor: nil))
    }
}
