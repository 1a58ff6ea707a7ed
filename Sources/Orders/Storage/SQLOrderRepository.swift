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
    /// Seals items, addresses and payment details (`OrderRows.encryptedColumns`).
    let cipher: FieldCipher
    /// How long a processing attempt belongs to the request that reserved it. It must outlast the slowest
    /// provider call; after it, the next request may resume the attempt.
    let paymentLease: Duration
    /// Writes each change's event to the outbox in the change's transaction. The service always sets it;
    /// repository tests that are not about events may leave it out.
    let events: OrderEvents?
    /// Writes each change's audit record in the change's transaction. The service always sets it.
    let audit: OrderAudit?
    /// Counts committed status changes. The service always sets it.
    let metrics: OrderMetrics?

    init(
        database: any Database, cipher: FieldCipher, paymentLease: Duration = .seconds(60), events: OrderEvents? = nil,
        audit: OrderAudit? = nil, metrics: OrderMetrics?
    ) {
        self.database = database
        self.cipher = cipher
        self.paymentLease = paymentLease
        self.events = events
        self.audit = audit
        self.metrics = metrics
    }

    public init(
        database: any Database, cipher: FieldCipher, paymentLease: Duration = .seconds(60), events: OrderEvents? = nil,
        audit: OrderAudit? = nil
    ) {
        self.init(
            database: database, cipher: cipher, paymentLease: paymentLease, events: events, audit: audit, metrics: nil)
    }

    public func insert(_ order: Order) async throws {
        let values = try OrderRows.values(of: order, cipher: cipher)
        try await database.transaction { sql in
            try await sql.insert(into: "orders").columns(OrderRows.orderColumns).values(values).run()
            try await events?.created(order, on: sql)
            try await audit?.created(order, on: sql)
        }
        metrics?.entered(order.status)
    }

    public func order(id: String) async throws -> Order? {
        try await database.read { sql in
            try await sql.select().column("*").from("orders").where("id", .equal, SQLBind(id)).first()
                .map { try OrderRows.order(from: $0, cipher: cipher) }
        }
    }

    public func orders(userID: String?, status: OrderStatus?, page: PageRequest) async throws -> [Order] {
        try await database.read { sql in
            let query = sql.select().column("*").from("orders")
            if let userID { query.where("user_id", .equal, SQLBind(userID)) }
            if let status { query.where("status", .equal, SQLBind(status.rawValue)) }
            if let after = page.after { query.where("id", .greaterThan, SQLBind(after)) }
            return try await query.orderBy("id").limit(page.limit + 1).all()
                .map { try OrderRows.order(from: $0, cipher: cipher) }
        }
    }

    public func update(_ order: Order, expectedVersion: Int64, now: Date) async throws -> Order {
        let items = try OrderRows.sealed(order.items, column: "items", orderID: order.id, cipher: cipher)
        let address = try OrderRows.sealed(
            order.shippingAddress, column: "shipping_address", orderID: order.id, cipher: cipher)
        let (previous, result) = try await database.transaction { sql in
            guard let stored = try await lockOrder(order.id, sql) else { throw OrderStoreError.orderNotFound }
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
            let updated = try OrderRows.order(from: row, cipher: cipher)
            try await events?.statusChanged(from: stored.status, to: updated, on: sql)
            try await audit?.changed(from: stored, to: updated, on: sql)
            return (stored.status, updated)
        }
        if result.status != previous { metrics?.entered(result.status) }
        return result
    }

    /// The order's row, locked for the rest of the transaction.
    func lockOrder(_ id: String, _ sql: any SQLDatabase) async throws -> Order? {
        try await sql.select().column("*").from("orders").where("id", .equal, SQLBind(id)).for(.update).first()
            .map { try OrderRows.order(from: $0, cipher: cipher) }
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
