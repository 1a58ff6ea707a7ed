import MeridianKit

/// Master keys for tests: a fresh random one per service under test, as a real deployment has one per
/// platform that no other shares.
public enum TestMasterKey {
    public static func make() -> MasterKey { MasterKey.generate() }
}

extension ServiceSettings {
    /// These settings with a fresh random master key (or `key`).
    public func withTestMasterKey(_ key: MasterKey = TestMasterKey.make()) -> ServiceSettings {
        var settings = self
        settings.masterKey = key
        return settings
    }
}
