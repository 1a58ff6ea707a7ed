import MeridianTestSupport

/// The Redis of these tests: the test command's shared one, and private servers (`TestRedisServer`, the one
/// starter every suite uses) for the tests that stop Redis mid-test.
enum RedisTestServer {
    static var sharedURL: String? { TestRedisServer.sharedURL }
    static var isConfigured: Bool { TestRedisServer.isConfigured }

    typealias Process = TestRedisServer
}
