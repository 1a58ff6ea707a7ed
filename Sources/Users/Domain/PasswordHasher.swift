import HummingbirdBcrypt
import NIOPosix

/// bcrypt hashing at a fixed cost. bcrypt is slow on purpose (about 250 ms at cost 12), so it runs on NIO's
/// blocking thread pool, never on the cooperative pool that serves requests.
public struct PasswordHasher: Sendable {
    public static let defaultCost = 12
    public static let costs = 4...31
    public static let costVariable = "MERIDIAN_BCRYPT_COST"

    public let cost: Int

    public struct InvalidCost: Error, CustomStringConvertible {
        public let description: String
    }

    public init(cost: Int) throws {
        guard PasswordHasher.costs.contains(cost) else {
            throw InvalidCost(description: "the bcrypt cost must be from 4 to 31, not \(cost)")
        }
        self.cost = cost
    }

    /// The cost `MERIDIAN_BCRYPT_COST` names, or the default; a value that is not 4...31 is a start-up error
    /// rather than a silently weaker (or unusably slow) hash.
    public static func cost(environment: [String: String]) throws -> Int {
        guard let text = environment[costVariable] else { return defaultCost }
        guard let cost = Int(text), costs.contains(cost) else {
            throw InvalidCost(description: "\(costVariable) must be an integer from 4 to 31")
        }
        return cost
    }

    public func hash(_ password: String) async throws -> String {
        let cost = UInt8(self.cost)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}
