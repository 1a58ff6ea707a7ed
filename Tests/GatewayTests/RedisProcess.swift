import MeridianTestSupport

/// The test command's Redis (`MERIDIAN_TEST_REDIS_URL`) enables the Redis tests; each runs its own private
/// `redis-server` (`TestRedisServer`) because it stops Redis mid-test or needs its keys to start empty, and the
/// shared one must keep running for the other suites.
enum TestRedis {
    static var isConfigured: Bool { TestRedisServer.isConfigured }

    typealias Server = TestRedisServer
}
