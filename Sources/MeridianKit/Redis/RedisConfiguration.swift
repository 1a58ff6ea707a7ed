import Foundation

/// Where Redis is and how long to wait for it. Built from a `redis://[[user]:password@]host[:port][/db]` URL.
public struct RedisConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int
    /// Connections kept open; commands are spread over them and pipelined on each.
    public var poolSize: Int
    public var connectTimeout: Duration
    /// How long a command may wait for its reply.
    public var commandTimeout: Duration

    public init(
        host: String = "127.0.0.1", port: Int = 6379, username: String? = nil, password: String? = nil,
        database: Int = 0, poolSize: Int = 4, connectTimeout: Duration = .milliseconds(500),
        commandTimeout: Duration = .milliseconds(250)
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.poolSize = poolSize
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }

    public struct InvalidURL: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses a `redis://` URL. The message of a bad URL never repeats it: it may hold a password.
    public init(url text: String) throws {
        guard let components = URLComponents(string: text), components.scheme?.lowercased() == "redis",
            let host = components.host, !host.isEmpty, components.query == nil, components.fragment == nil
        else {
            throw InvalidURL(description: "the Redis URL is not like redis://[:password@]host[:port][/db]")
        }
        var database = 0
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty {
            guard let number = Int(path), number >= 0 else {
                throw InvalidURL(description: "the Redis URL's path must be a database number")
            }
            database = number
        }
        let user = components.user.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        let password = components.password.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        self.init(
            host: host, port: components.port ?? 6379, username: user, password: password, database: database)
    }
}
