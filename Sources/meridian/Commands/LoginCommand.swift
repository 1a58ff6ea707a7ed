import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `meridian login`: signs in from a terminal the way `gh auth login` does, with the authorization code flow
/// and PKCE through the built-in public client `meridian-cli` and a loopback redirect (RFC 8252), and prints
/// the access token.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign in through the browser and print an access token.",
        discussion: """
            Listens on 127.0.0.1 at a random port, prints the sign-in URL (on standard error) and opens it in a \
            browser, waits for the redirect back, checks it, exchanges the code and prints the access token on \
            standard output:  export TOKEN=$(meridian login)
            """)

    @Option(help: "Meridian's public URL (MERIDIAN_URL; default https://localhost:8080).")
    var url: String?

    @Option(
        help: """
            PEM certificate of the CA to trust for --url, such as serve's development CA data/tls/ca.pem \
            (MERIDIAN_TLS_CA_FILE; default: the system's roots).
            """)
    var cacert: String?

    @Flag(help: "Only print the sign-in URL; do not try to open a browser.")
    var noBrowser = false

    @Flag(help: "Also write the token response to ~/.config/meridian/token.json (mode 0600).")
    var save = false

    @Option(help: "Seconds to wait for the sign-in to complete.")
    var timeout: Int = 300

    func validate() throws {
        guard (1...3600).contains(timeout) else { throw ValidationError("--timeout must be 1 to 3600 seconds") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let baseURL = try LoginCommand.baseURL(url ?? ProcessInfo.processInfo.environment["MERIDIAN_URL"])
        let client = try LoginTLS.client(caFile: cacert ?? ProcessInfo.processInfo.environment["MERIDIAN_TLS_CA_FILE"])
        do {
            try await signIn(baseURL: baseURL, client: client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private func signIn(baseURL: String, client: HTTPClient) async throws {
        let server = AuthorizationServerClient(baseURL: baseURL, client: client)
        let metadata = try await server.metadata()
        let proof = ProofKey()
        // RFC 9207: a server that promises `iss` in its responses must be held to it.
        let receiver = RedirectReceiver(
            state: proof.state,
            expectedIssuer: metadata.authorizationResponseIssParameterSupported == true ? metadata.issuer : nil)

        let (ports, portSink) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
        let logger = Logger(label: "meridian-login")
        let listener = Application(
            router: receiver.router(),
            server: .http1(configuration: .init(idleTimeout: .seconds(5))),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: nil),
            onServerRunning: { channel in
                if let port = channel.localAddress?.port { portSink.yield(port) }
                portSink.finish()
            },
            logger: logger)
        let outcome = Outcome<AuthorizationServerClient.Tokens>()
        let flow = LoginFlow(
            server: server, receiver: receiver, proof: proof, ports: ports, timeout: .seconds(timeout),
            openBrowser: !noBrowser, outcome: outcome)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: listener),
                    .init(
                        service: flow, successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: Platform.shutdownSignals, logger: logger))
        try await group.run()

        guard let result = outcome.result.withLock({ $0 }) else {
            throw LoginError(description: "the loopback listener stopped before the sign-in completed")
        }
        let tokens: AuthorizationServerClient.Tokens
        do {
            tokens = try result.get()
        } catch is CancellationError {
            throw LoginError(description: "login interrupted")
        }
        if save {
            let path = try TokenFile.path()
            try TokenFile.write(tokens.raw, to: path)
            Terminal.say("Token response saved to \(path).")
        }
        Terminal.say("Signed in.")
        print(tokens.accessToken)
    }

    /// `--url` checked and without a trailing slash, so endpoints join cleanly.
    static func baseURL(_ given: String?) throws -> String {
        let text = given ?? "https://localhost:8080"
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil, components.user == nil
        else {
            throw ValidationError("--url must be Meridian's base URL, like https://localhost:8080")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }
}
