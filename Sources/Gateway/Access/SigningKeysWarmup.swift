import Logging
import MeridianKit
import ServiceLifecycle

/// Loads the issuer's signing keys into the gateway's verifier at start, so the first request does not wait for
/// the JWKS.
///
/// It waits for the users service to report ready before fetching: `JWKSTokenVerifier` allows one fetch per
/// few seconds, and a fetch spent while users is still migrating (as it is in the first moments of
/// `meridian serve`) would leave the gateway answering 503 until the next one is allowed. Stops at graceful
/// shutdown; requests never depend on it finishing, since the verifier fetches on first use anyway.
struct SigningKeysWarmup: Service {
    let verifier: JWKSTokenVerifier
    let users: ServiceClient
    let logger: Logger
    /// How often to ask whether users is ready.
    var pollInterval: Duration = .milliseconds(200)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled, verifier.knownKeyIDs.isEmpty {
                if await usersIsReady() {
                    await verifier.prefetch()
                    if !verifier.knownKeyIDs.isEmpty { break }
                }
                try? await Task.sleep(for: pollInterval)
            }
        }
        if !verifier.knownKeyIDs.isEmpty {
            logger.info("signing keys loaded", metadata: ["key_count": "\(verifier.knownKeyIDs.count)"])
        }
        // A service returning early would end the group: wait for shutdown like the others.
        try? await gracefulShutdown()
    }

    private func usersIsReady() async -> Bool {
        (try? await users.send(.GET, "/readyz"))?.status == 200
    }
}
