import Foundation
import ServiceLifecycle

/// The terminal's side of the authorization code flow with PKCE: once the loopback listener has its port, it
/// prints the authorization URL (and opens a browser unless told not to), waits for the redirect, and
/// exchanges the code. Runs as a service beside the listener, which stops gracefully when the flow ends, after
/// the browser has had its answer.
struct LoginFlow: Service {
    let server: AuthorizationServerClient
    let receiver: RedirectReceiver
    let proof: ProofKey
    /// The listener's port, once it listens.
    let ports: AsyncStream<Int>
    let timeout: Duration
    let openBrowser: Bool
    let outcome: Outcome<AuthorizationServerClient.Tokens>

    /// The public client every installation has, registered for loopback redirects on any port.
    static let clientID = "meridian-cli"

    func run() async throws {
        let result: Result<AuthorizationServerClient.Tokens, any Error>
        do {
            result = .success(try await cancelWhenGracefulShutdown { try await signIn() })
        } catch {
            result = .failure(error)
        }
        outcome.result.withLock { $0 = result }
    }

    func signIn() async throws -> AuthorizationServerClient.Tokens {
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        // RFC 8252 section 7.3: the IP literal, not `localhost`, which could resolve elsewhere.
        let redirectURI = "http://127.0.0.1:\(port)\(RedirectReceiver.path)"
        let url =
            server.endpoint("/oauth/authorize") + "?"
            + FormCoding.encode([
                ("response_type", "code"), ("client_id", LoginFlow.clientID), ("redirect_uri", redirectURI),
                ("code_challenge", proof.challenge), ("code_challenge_method", ProofKey.method),
                ("state", proof.state),
            ])
        Terminal.say(
            """
            Open this URL in a browser to sign in to Meridian:

            \(url)

            Waiting for the sign-in to complete (up to \(timeout.components.seconds) seconds)…
            """)
        if openBrowser { Browser.open(url) }
        let code = try await waitForCode()
        return try await server.exchange(
            code: code, redirectURI: redirectURI, clientID: LoginFlow.clientID, verifier: proof.verifier)
    }

    private func waitForCode() async throws -> String {
        let results = receiver.results
        let timeout = timeout
        return try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                for await result in results { return try result.get() }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            if let code = try await group.next() ?? nil { return code }
            try Task.checkCancellation()
            throw LoginError(
                description: "no sign-in arrived within \(timeout.components.seconds) seconds; run meridian login again")
        }
    }
}

/// Messages for the person at the terminal go to standard error: standard output carries only the token, so
/// `TOKEN=$(meridian login)` works.
enum Terminal {
    static func say(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// Opens a URL in the desktop's browser when there is one; on a server without one this does nothing, and
/// the printed URL is all there is.
enum Browser {
    static func open(_ url: String) {
        #if os(macOS)
        let candidates = ["open"]
        #else
        let candidates = ["xdg-open", "wslview"]
        #endif
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for name in candidates {
            for directory in path.split(separator: ":") {
                let executable = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
                guard FileManager.default.isExecutableFile(atPath: executable.path) else { continue }
                let process = Process()
                process.executableURL = executable
                process.arguments = [url]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                if (try? process.run()) != nil { return }
            }
        }
    }
}
