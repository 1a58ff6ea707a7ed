import Foundation
import MeridianKit
import SQLKit

/// `OrderRepository` on SQLKit: one code path for SQLite and PostgreSQL.
///
/// Every transaction that changes an order starts by locking its row (`SELECT … FOR UPDATE`, which the SQLite
/// dialect leaves out because SQLite already runs one writer at a time). So a payment reservation and a
/// concurrent update of the same order run one after the other, and each sees what the other committed.
public struct SQLOrderRepository: OrderRepository {
    let database: any Database
    /// How long a processing attempt belongs to the request that reserved it. It must outlast the slowest
    /// provider call; after it, the next request may resume the attempt.
    let paymentLease: Duration

    public init(database: any Database, paymentLease: Duration = .seconds(60)) {
        self.database = database
        self.paymentLease = paymentLease
    }

    public func insert(_ order: Order) async throws {
        let values = try OrderRows.values(of: order)
        try await database.transaction { sql in
            try await sql.insert(into: "orders").columns(OrderRows.orderColumns).values(values).run()
        }
    }

    public func order(id: String) async throws -> Order? {
        try await database.read { sql in
            try await sql.select().column("*").from("orders").where("id", .equal, SQLBind(id)).first()
                .map(OrderRows.order(from:))
        }
    }

    public func orders(userID: String?, status: OrderStatus?, page: PageRequest) async throws -> [Order] {
        try await database.read { sql in
            let query = sql.select().column("*").from("orders")
            if let userID { query.where("user_id", .equal, SQLBind(userID)) }
            if let status { query.where("status", .equal, SQLBind(status.rawValue)) }
            if let after = page.after { query.where("id", .greaterThan, SQLBind(after)) }
            return try await query.orderBy("id").limit(page.limit + 1).all().map(OrderRows.order(from:))
        }
    }

    public func update(_ order: Order, expectedVersion: Int64, now: Date) async throws -> Order {
        let items = try OrderRows.json(order.items)
        let address = try OrderRows.json(order.shippingAddress)
        return try await database.transaction { sql in
            guard try await lockOrder(order.id, sql) != nil else { throw OrderStoreError.orderNotFound }
            try await refuseWhilePaymentProcessing(order.id, now: now, sql)
            let row = try await sql.update("orders")
                .set("status", to: SQLBind(order.status.rawValue))
                .set("items", to: SQLBind(items))
                .set("shipping_address", to: SQLBind(address))
                .set("total", to: SQLBind(order.total.minorUnits))
                .set("version", to: SQLBind(expectedVersion + 1))
                .set("updated_at", to: SQLBind(Timestamp.micros(now)))
                .where("id", .equal, SQLBind(order.id))
                .where("version", .equal, SQLBind(expectedVersion))
                .returning("*")
                .first()
            guard let row else { throw ConcurrentUpdateError() }
            return try OrderRows.order(from: row)
        }
    }

    /// The order's row, locked for the rest of the transaction.
    func lockOrder(_ id: String, _ sql: any SQLDatabase) async throws -> Order? {
        try await sql.select().column("*").from("orders").where("id", .equal, SQLBind(id)).for(.update).first()
            .map(OrderRows.order(from:))
    }

    /// Throws `paymentInProgress` when the order has a processing attempt.
    func refuseWhilePaymentProcessing(_ orderID: String, now: Date, _ sql: any SQLDatabase) async throws {
        guard let row = try await processingAttemptRow(orderID, sql) else { return }
        let leaseExpiresAt = try row.decode(column: "lease_expires_at", as: Int64?.self) ?? 0
        throw OrderStoreError.paymentInProgress(abandoned: leaseExpiresAt <= Timestamp.micros(now))
    }

    func processingAttemptRow(_ orderID: String, _ sql: any SQLDatabase) async throws -> (any SQLRow)? {
        try await sql.select().column("*").from("payment_attempts")
            .where("order_id", .equal, SQLBind(orderID))
            .where("status", .equal, SQLBind(PaymentAttempt.Status.processing.rawValue))
            .first()
    }
}
