/// Why a value could not be sealed or opened. Descriptions name the location, never the value.
public enum FieldCipherError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `seal`/`open` ran before `load()` (the service's `prepare` runs it after the migrations).
    case notLoaded(service: String)
    /// The ciphertext names a key version this service does not hold (never created, or retired).
    case unknownKeyVersion(UInt32)
    /// Too short to be a sealed value.
    case malformed
    /// The tag does not verify: the value was altered, copied from another row, column or table, or sealed
    /// under another key.
    case authenticationFailed(table: String, column: String, rowID: String)
    /// A stored key does not unwrap under the configured master key.
    case wrongMasterKey(service: String)

    public var description: String {
        switch self {
        case .notLoaded(let service): "the field cipher of \(service) is used before its keys were loaded"
        case .unknownKeyVersion(let version): "no data key of version \(version)"
        case .malformed: "a stored ciphertext is malformed"
        case .authenticationFailed(let table, let column, let rowID):
            "the ciphertext of \(table).\(column) for row \(rowID) does not authenticate"
        case .wrongMasterKey(let service):
            "the data keys of \(service) do not unwrap under the configured master key (is it the right one?)"
        }
    }
}
