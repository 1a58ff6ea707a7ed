import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeridianKit
import MeridianTestSupport
import SQLKit
import Testing

@testable import Orders

/// Every mutation of the orders service leaves exactly one audit record in its transaction; the number of
/// records equals the number of mutations the stored data proves happened.
@Suite struct OrdersAuditTests {
    func auditActions(_ service: OrdersService) async throws -> [String] {
        try await service.database.read { sql in
            try await sql.select().columns("action", "outcome").from("audit_log").orderBy("sequence").all()
                .map { row in
                    let outcome = try row.decode(column: "outcome", as: String.self)
                    let action = try row.decode(column: "action", as: String.self)
                    return outcome == "success" ? action : "\(action):\(outcome)"
                }
        }
    }

    /// The mutations the stored data proves: each order's version counts its insert and every change of it;
    /// each payment attempt was reserved once and finished once, and only a successful finish moved a version;
    /// each stored key was created once.
    func provenMutations(_ service: OrdersService) async throws -> Int {
        try await service.database.read { sql in
            let versions = try await sql.select().column("version").from("orders").all()
                .map { try $0.decode(column: "version", as: Int64.self) }.reduce(0, +)
            let attempts = try await sql.select().column("status").from("payment_attempts").all()
                .map { try $0.decode(column: "status", as: String.self) }
            let unsuccessful = attempts.filter { $0 != "succeeded" && $0 != "processing" }.count
            let keys = try await sql.select().column("version").from("meridian_data_keys").all().count
            return Int(versions) + attempts.count + unsuccessful + keys
        }
    }

    @Test(arguments: TestDatabase.engines)
    func aWorkloadLeavesOneRecordPerMutation(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { harness in
            let client = harness.client
            // The first start stored the service's data key and blind-index seed.
            var expected = ["data_key.create", "index_key.create"]
            let paid = try await client.placedOrderID(userID: harness.userID)
            let declined = try await client.placedOrderID(userID: harness.userID)
            let cancelled = try await client.placedOrderID(userID: otherUserID)
            expected += ["order.create", "order.create", "order.create"]
            #expect(try await client.put(paid, ["items": [item(quantity: 3)]]).status == .ok)
            expected.append("order.update")
            #expect(try await client.pay(paid).status == .created)
            expected += ["payment.reserve", "order.pay"]
            #expect(try await client.pay(declined, method: TestPaymentProvider.declinedMethod).status != .created)
            expected += ["payment.reserve", "order.pay:failure"]
            #expect(try await client.put(paid, ["status": "fulfilled"]).status == .ok)
            expected.append("order.update")
            #expect(try await client.delete(cancelled).status == .ok)
            expected.append("order.cancel")
            let refundable = try await client.paidOrderID(userID: harness.userID)
            expected += ["order.create", "payment.reserve", "order.pay"]
            #expect(try await client.delete(refundable).status == .ok)
            expected += ["payment.reserve", "order.refund"]
            // Refused requests change nothing and are recorded as denials, not mutations.
            #expect(try await harness.anonymous.execute(uri: "/api/orders/\(paid)", method: .get).status == .unauthorized)
            expected.append("request.deny:denied")

            let actions = try await auditActions(harness.service)
            #expect(actions == expected)
            let mutations = try await provenMutations(harness.service)
            #expect(actions.filter { !$0.hasPrefix("request.deny") }.count == mutations)
            let verification = try await AuditVerifier(
                service: OrdersService.name, database: harness.service.database, cipher: harness.service.cipher
            ).verify()
            #expect(verification.firstBreak == nil)
            #expect(verification.records == expected.count)
        }
    }

    @Test(arguments: TestDatabase.engines)
    func recordsCarryTheCallerAndTheChangeSet(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { harness in
            let customer = try await harness.client(as: .customer, subject: harness.userID)
            let response = try await customer.createOrder(
                orderBody(userID: harness.userID),
                headers: [
                    .requestID: "req-audit-orders",
                    HTTPField.Name("traceparent")!: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                ])
            #expect(response.status == .created)
            let orderID = try #require(try object(response)["id"] as? String)
            let page = try await harness.client.execute(
                uri: "/api/audit/orders?resource_type=order&resource_id=\(orderID)", method: .get)
            #expect(page.status == .ok)
            let record = try #require(try listed(page).first)
            #expect(record["action"] as? String == "order.create")
            #expect((record["actor"] as? [String: Any])?["sub"] as? String == harness.userID)
            #expect((record["actor"] as? [String: Any])?["roles"] as? [String] == ["customer"])
            #expect(record["request_id"] as? String == "req-audit-orders")
            #expect(record["trace_id"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
            let changes = try #require(record["changes"] as? [String: Any])
            #expect(changes["total_minor"] as? Int == 2500)
            #expect(changes["user_id"] as? String == harness.userID)
            #expect((changes["shipping_address"] as? [String: Any])?["city"] as? String == "London")
        }
    }

    @Test(arguments: TestDatabase.engines)
    func onlySupportAndAdminsReadTheAuditLog(_ engine: DatabaseEngine) async throws {
        try await withOrdersService(engine) { harness in
            for (role, status) in [(BuiltInRole.admin, HTTPResponse.Status.ok), (.support, .ok), (.customer, .forbidden)] {
                let client = try await harness.client(as: role, subject: harness.userID)
                #expect(try await client.execute(uri: "/api/audit/orders", method: .get).status == status, "\(role)")
            }
            #expect(try await harness.anonymous.execute(uri: "/api/audit/orders", method: .get).status == .unauthorized)
            for method in [HTTPRequest.Method.post, .put, .patch, .delete] {
                let response = try await harness.client.execute(uri: "/api/audit/orders", method: method)
                #expect(!(200..<300).contains(response.status.code), "\(method)")
            }
        }
    }
}
