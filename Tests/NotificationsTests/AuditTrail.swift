import HummingbirdTesting
import MeridianKit
import Testing

/// The notifications service's audit records as an auditor reads them (`GET /api/audit/notifications`, change
/// sets decrypted), so tests check what was recorded, not only that a row exists.
enum AuditTrail {
    static func records(
        _ client: some TestClientProtocol, token: String, action: String, resourceID: String? = nil
    ) async throws -> [[String: Any]] {
        var uri = "/api/audit/notifications?limit=200&action=\(action)"
        if let resourceID { uri += "&resource_id=\(resourceID)" }
        let response = try await client.call(.get, uri, token: token)
        #expect(response.status == .ok)
        return try NotificationHarness.json(response)["data"] as? [[String: Any]] ?? []
    }

    static func actor(_ record: [String: Any]) -> String? { (record["actor"] as? [String: Any])?["sub"] as? String }
    static func resourceID(_ record: [String: Any]) -> String? { (record["resource"] as? [String: Any])?["id"] as? String }
    static func changes(_ record: [String: Any]) -> [String: Any] { record["changes"] as? [String: Any] ?? [:] }
}
