import Foundation
import Testing

@testable import Users

/// The rules with no I/O: PKCE, redirect URI matching, form encoding, scopes, throttling.
@Suite struct OAuthDomainTests {
    @Test func pkceMatchesTheRFC7636Example() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        #expect(PKCE.challenge(for: verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        #expect(PKCE.verify(verifier: verifier, challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
        #expect(!PKCE.verify(verifier: verifier, challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"))
    }

    @Test func pkceVerifiersAndChallengesHaveTheirRFCShapes() {
        #expect(PKCE.isValidVerifier(String(repeating: "a", count: 43)))
        #expect(PKCE.isValidVerifier(String(repeating: "~", count: 128)))
        #expect(!PKCE.isValidVerifier(String(repeating: "a", count: 42)))
        #expect(!PKCE.isValidVerifier(String(repeating: "a", count: 129)))
        #expect(!PKCE.isValidVerifier(String(repeating: "a", count: 42) + "+"))
        #expect(PKCE.isValidS256Challenge(String(repeating: "A", count: 43)))
        #expect(!PKCE.isValidS256Challenge(String(repeating: "A", count: 44)))
        #expect(!PKCE.isValidS256Challenge(String(repeating: "A", count: 42) + "."))
    }

    @Test func redirectURIsMatchExactlyExceptTheLoopbackPort() {
        let registered = "http://127.0.0.1/callback"
        #expect(RedirectURI.matches(requested: "http://127.0.0.1:1/callback", registered: registered))
        #expect(RedirectURI.matches(requested: "http://127.0.0.1:65535/callback", registered: registered))
        #expect(RedirectURI.matches(requested: "http://[::1]:8080/cb", registered: "http://[::1]/cb"))
        #expect(RedirectURI.matches(requested: "http://127.0.0.1:5/callback", registered: "http://127.0.0.1:9/callback"))
        for bad in [
            "http://127.0.0.1:0/callback", "http://127.0.0.1:65536/callback", "http://127.0.0.1:/callback",
            "http://127.0.0.1:80x/callback", "http://127.0.0.1:5/callback/", "http://127.0.0.1:5/Callback",
            "http://127.0.0.1:5/callback?x", "http://[::1]:5/callback", "http://127.0.0.2:5/callback",
            "http://127.0.0.1@evil/callback", "http://127.0.0.1.evil/callback", "https://127.0.0.1:5/callback",
        ] {
            #expect(!RedirectURI.matches(requested: bad, registered: registered), "\(bad)")
        }
        #expect(RedirectURI.matches(requested: "https://a.example/cb", registered: "https://a.example/cb"))
        #expect(!RedirectURI.matches(requested: "https://a.example/cb/", registered: "https://a.example/cb"))
        // Only loopback URIs ignore the port.
        #expect(!RedirectURI.matches(requested: "https://a.example:444/cb", registered: "https://a.example/cb"))
    }

    @Test func responseParametersAreAppendedToTheRegisteredQuery() {
        #expect(RedirectURI.appending([("code", "a b")], to: "https://a.example/cb") == "https://a.example/cb?code=a%20b")
        #expect(RedirectURI.appending([("state", "x&y=z")], to: "https://a.example/cb?k=1") == "https://a.example/cb?k=1&state=x%26y%3Dz")
        #expect(RedirectURI.origin(of: "http://127.0.0.1:4000/cb") == "http://127.0.0.1:4000")
        #expect(RedirectURI.origin(of: "https://a.example/cb") == "https://a.example")
        #expect(RedirectURI.origin(of: "com.example.app:/cb") == "com.example.app:")
    }

    @Test func formEncodingDecodesPlusAndRecordsRepeats() throws {
        let fields = try #require(FormEncoding.parse("a=1+2&b=%C3%A9%26&a=3&empty=&flag"))
        #expect(fields["a"] == "1 2")
        #expect(fields["b"] == "é&")
        #expect(fields["empty"] == "")
        #expect(fields["flag"] == "")
        #expect(fields.repeated == ["a"])
        #expect(FormEncoding.parse("a=%zz") == nil)
        #expect(FormEncoding.parse("a=%C3") == nil)
        #expect(FormEncoding.encode("a b/é~") == "a%20b%2F%C3%A9~")
    }

    @Test func scopesAreValidatedTokens() {
        #expect(Scope.parse("api reports api") == ["api", "reports"])
        #expect(Scope.parse("api  reports") == nil)
        #expect(Scope.parse("a\"b") == nil)
        #expect(Scope.parse("a\\b") == nil)
        #expect(Scope.parse("") == nil)
    }

    @Test func throttleDelaysDoubleAfterTheFreeFailuresAndAreCapped() {
        let throttle = LoginThrottle(freeFailures: 3, baseDelay: 1, maxDelay: 10, window: 3600)
        let last = Date(timeIntervalSince1970: 1_000_000)
        #expect(throttle.retryAfter(failures: 2, lastFailure: last, now: last) == nil)
        #expect(throttle.retryAfter(failures: 3, lastFailure: last, now: last) == 1)
        #expect(throttle.retryAfter(failures: 4, lastFailure: last, now: last) == 2)
        #expect(throttle.retryAfter(failures: 6, lastFailure: last, now: last) == 8)
        #expect(throttle.retryAfter(failures: 7, lastFailure: last, now: last) == 10)
        #expect(throttle.retryAfter(failures: 500, lastFailure: last, now: last) == 10)
        #expect(throttle.retryAfter(failures: 4, lastFailure: last, now: last.addingTimeInterval(2)) == nil)
        // A quiet window forgets.
        #expect(throttle.retryAfter(failures: 50, lastFailure: last, now: last.addingTimeInterval(3600)) == nil)
    }

    @Test func opaqueTokensAre256RandomBitsStoredAsSHA256() {
        let tokens = Set((0..<100).map { _ in OpaqueToken.make() })
        #expect(tokens.count == 100)
        #expect(tokens.allSatisfy(OpaqueToken.isWellFormed))
        #expect(OpaqueToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func basicClientCredentialsAreFormDecoded() throws {
        let header = "Basic " + Data("my%3Aclient:s%2Bcret+x".utf8).base64EncodedString()
        let parsed = try #require(ClientAuthenticator.basic(header))
        #expect(parsed.id == "my:client")
        #expect(parsed.secret == "s+cret x")
        #expect(ClientAuthenticator.basic("Bearer abc") == nil)
        #expect(ClientAuthenticator.basic("Basic !!!") == nil)
    }

    @Test func issuersAreHTTPURLsWithoutQueryOrFragment() throws {
        #expect(try AuthorizationServerSettings.normalizedIssuer("https://api.example.com/") == "https://api.example.com")
        for bad in ["api.example.com", "ftp://x.example", "https://x.example/?a=1", "https://x.example/#f", "https://"] {
            #expect(throws: AuthorizationServerSettings.InvalidIssuer.self) {
                try AuthorizationServerSettings.normalizedIssuer(bad)
            }
        }
    }
}
