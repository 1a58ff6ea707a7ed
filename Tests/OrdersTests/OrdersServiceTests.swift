import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Orders

@Suite struct OrdersServiceTests {
    @Test(arguments: TestDatabase.engines)
    func startsMigratedAndReady(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            #expect(try await h.client.get("/readyz").status == .ok)
            #expect(try await h.client.get("/healthz").status == .ok)
            let applied = try await Migrator(
                database: h.service.database, migrations: OrdersMigrations.all, logger: quietLogger()
            ).appliedNames()
            // The service's own migrations, plus the kernel's (data keys, audit log, outbox) that ServiceCore adds.
            #expect(Set(OrdersMigrations.all.map(\.name)).isSubset(of: Set(applied)))
            // Running the migrations again finds nothing to do.
            try await h.service.migrate()
            #expect(
                try await Migrator(
                    database: h.service.database, migrations: OrdersMigrations.all, logger: quietLogger()
                ).appliedNames() == applied)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func paymentsAreCountedInMetrics(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            _ = try await h.client.paidOrderID(userID: h.userID)
            let metrics = String(buffer: try await h.client.get("/metrics").body)
            #expect(metrics.contains(#"orders_payment_attempts_total{kind="charge",status="succeeded"} 1"#))
        }
    }

    @Test(arguments: TestDatabase.engines)
    func committedStatusChangesAreCountedAndEverySeriesStartsAtZero(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let before = String(buffer: try await h.client.get("/metrics").body)
            #expect(before.contains(#"orders_status_changes_total{status="pending"} 0"#))
            #expect(before.contains(#"orders_payment_attempts_total{kind="refund",status="declined"} 0"#))
            _ = try await h.client.paidOrderID(userID: h.userID)
            let after = String(buffer: try await h.client.get("/metrics").body)
            #expect(after.contains(#"orders_status_changes_total{status="pending"} 1"#))
            #expect(after.contains(#"orders_status_changes_total{status="paid"} 1"#))
            #expect(after.contains(#"orders_status_changes_total{status="refunded"} 0"#))
        }
    }

    @Test(arguments: TestDatabase.engines)
    func everyResponseCarriesARequestID(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { h in
            let created = try await h.client.createOrder(orderBody(userID: h.userID), headers: [.requestID: "req-42"])
            #expect(created.headers[.requestID] == "req-42")
            let missing = try await h.client.get("/api/orders/\(Identifier.make(prefix: "ord"))")
            #expect(missing.headers[.requestID] != nil)
        }
    }
}
