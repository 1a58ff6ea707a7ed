/// The audit events of changes to a service's keys (docs/audit.md, "Actions recorded"). A key change is a state
/// mutation like any other, so each is appended in the transaction that makes it. The verb matches the users
/// service's `key.rotate` of signing keys; the resource names which key it was. No event holds key material:
/// data keys are named by version, master keys by their non-secret fingerprint.
enum KeyAudit {
    /// The first start stored the service's first data key (version 1) or its blind-index seed (version 0).
    static func keyCreated(_ key: DataKeyStore.CreatedKey) -> AuditEvent {
        let resource = key.purpose == .data ? "data_key" : "index_key"
        return AuditEvent(
            action: resource + ".create", resourceType: resource, resourceID: String(key.version),
            changes: .object([
                "version": .integer(key.version), "state": .string(DataKeyStore.State.primary.rawValue),
            ]))
    }

    /// `meridian keys rotate`: `primary` is the new data key, `previous` the one it superseded (nil only if the
    /// service had none, which `FieldCipher.load` prevents).
    static func dataKeyRotated(previous: Int64?, primary: Int64) -> AuditEvent {
        AuditEvent(
            action: "data_key.rotate", resourceType: "data_key", resourceID: String(primary),
            changes: .object([
                "previous_primary_version": previous.map(JSONValue.integer) ?? .null,
                "primary_version": .integer(primary),
            ]))
    }

    /// The rotation job erased a superseded data key no value uses any more.
    static func dataKeyRetired(version: Int64, primary: Int64) -> AuditEvent {
        AuditEvent(
            action: "data_key.retire", resourceType: "data_key", resourceID: String(version),
            changes: .object([
                "state": .string(DataKeyStore.State.retired.rawValue), "primary_version": .integer(primary),
            ]))
    }

    /// `meridian keys rotate-master`: `rewrapped` counts the stored keys (data keys and the blind-index seed)
    /// now wrapped under `new`.
    static func masterKeyRotated(from old: MasterKey, to new: MasterKey, rewrapped: Int) -> AuditEvent {
        AuditEvent(
            action: "master_key.rotate", resourceType: "master_key", resourceID: new.fingerprint,
            changes: .object([
                "previous_fingerprint": .string(old.fingerprint), "fingerprint": .string(new.fingerprint),
                "rewrapped_keys": .integer(Int64(rewrapped)),
            ]))
    }
}
