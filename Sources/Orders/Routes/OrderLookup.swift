import Hummingbird
import MeridianKit

extension OrderRepository {
    /// The order the path's `:id` names, or a 404 problem. Ids that cannot be order ids are not looked up.
    func existingOrder(_ context: MeridianRequestContext) async throws -> Order {
        let id = try OrderLookup.orderID(context)
        guard let order = try await order(id: id) else { throw OrderStoreError.orderNotFound }
        return order
    }
}

enum OrderLookup {
    static func orderID(_ context: MeridianRequestContext) throws -> String {
        let id = try context.parameters.require("id")
        guard Identifier.isWellFormed(id, prefix: "ord") else { throw OrderStoreError.orderNotFound }
        return id
    }

    static func headers(for order: Order) -> HTTPFields {
        [.eTag: EntityTag.make(version: order.version)]
    }
}
