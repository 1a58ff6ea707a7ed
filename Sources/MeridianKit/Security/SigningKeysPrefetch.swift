extension JWKSTokenVerifier {
    /// The start-up warm-up of a service (its `prepare` step, after migrations): fetches the issuer's keys now
    /// when the users service at `usersURL` already reports ready, so the first request does not wait for them;
    /// otherwise does nothing, and the keys are fetched on first use.
    ///
    /// Why not `prefetch()` regardless: the verifier allows one fetch per `minimumRefetchInterval`, so a fetch
    /// spent while users is still starting (as in the first moments of `meridian serve`, where every service
    /// starts at once) would refuse every token with 503 until the next fetch is allowed. Never throws: a
    /// service starts whether or not users is up.
    public func prefetchIfIssuerReady(usersURL: String) async {
        let users = ServiceClient(service: "users", baseURL: usersURL, timeout: .seconds(2))
        guard (try? await users.send(.GET, "/readyz"))?.status == 200 else {
            logger.info("users service not ready: signing keys will be fetched on first use")
            return
        }
        await prefetch()
    }
}
