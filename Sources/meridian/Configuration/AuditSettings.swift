import Foundation
import MeridianKit

extension Settings {
    /// How often each service signs its audit chain: `audit.checkpoint.records` (MERIDIAN_AUDIT_CHECKPOINT_RECORDS,
    /// default 1000) and `audit.checkpoint.seconds` (MERIDIAN_AUDIT_CHECKPOINT_SECONDS, default 300).
    func auditCheckpoints() throws -> AuditCheckpointPolicy {
        let standard = AuditCheckpointPolicy.standard
        func positive(_ key: String, _ variable: String, default fallback: Int) throws -> Int {
            guard let text = string(key) else { return fallback }
            guard let value = Int(text), value >= 1 else {
                throw ConfigurationError(description: "\(key) must be a positive integer, not '\(text)' (\(variable))")
            }
            return value
        }
        return AuditCheckpointPolicy(
            everyRecords: try positive(
                "audit.checkpoint.records", "MERIDIAN_AUDIT_CHECKPOINT_RECORDS", default: standard.everyRecords),
            everySeconds: TimeInterval(
                try positive(
                    "audit.checkpoint.seconds", "MERIDIAN_AUDIT_CHECKPOINT_SECONDS",
                    default: Int(standard.everySeconds))))
    }
}
