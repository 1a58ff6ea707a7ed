import Foundation
import MeridianKit

/// A named set of permissions. The built-in ones take their permissions from `BuiltInRole`, so a new
/// release that changes them needs no data migration; custom ones keep theirs in the `roles` table.
public struct Role: Sendable, Equatable {
    public let name: String
    public var permissions: Set<Permission>
    public let builtIn: Bool
    public var version: Int64
    public let createdAt: Date
    public var updatedAt: Date

    public init(
        name: String, permissions: Set<Permission>, builtIn: Bool, version: Int64, createdAt: Date, updatedAt: Date
    ) {
        self.name = name
        self.permissions = permissions
        self.builtIn = builtIn
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What a role name may be: lower-case letters, digits and hyphens, starting with a letter. The narrow
/// alphabet keeps names safe in URLs, JSON and SQL `LIKE` patterns alike.
enum RoleName {
    static let lengths = 1...64

    static func problem(with name: String) -> String? {
        guard lengths.contains(name.utf8.count) else {
            return "must be \(lengths.lowerBound) to \(lengths.upperBound) characters"
        }
        guard let first = name.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
            name.utf8.allSatisfy({
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || $0 == UInt8(ascii: "-")
            })
        else { return "must be lower-case letters, digits and hyphens, starting with a letter" }
        return nil
    }

    static func isValid(_ name: String) -> Bool { problem(with: name) == nil }
}
