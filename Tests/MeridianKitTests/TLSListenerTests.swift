import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MeridianKit
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Testing
import X509

/// A TLS handshake and nothing else, with NIO directly: what version was agreed and what certificate the
/// server presented, or the error that ended the handshake.
enum TLSProbe {
    struct Outcome {
        let version: TLSVersion?
        let peer: Certificate?
    }

    /// Completes the promise when the handshake finishes or fails.
    final class HandshakeWatcher: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let done: EventLoopPromise<Void>
        init(done: EventLoopPromise<Void>) { self.done = done }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? TLSUserEvent, case .handshakeCompleted = event { done.succeed(()) }
            context.fireUserInboundEventTriggered(event)
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            done.fail(error)
            context.close(promise: nil)
        }
        func channelInactive(context: ChannelHandlerContext) {
            done.fail(ChannelError.eof)
            context.fireChannelInactive()
        }
    }

    static func handshake(port: Int, configuration: TLSConfiguration, serverName: String = "localhost")
        async throws -> Outcome
    {
        let context = try NIOSSLContext(configuration: configuration)
        let group = MultiThreadedEventLoopGroup.singleton
        let done = group.any().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: serverName)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        defer { channel.close(promise: nil) }
        try await done.futureResult.get()
        let (version, peer) = try await channel.pipeline.handler(type: NIOSSLClientHandler.self).flatMapThrowing {
            handler -> (TLSVersion?, [UInt8]?) in
            (handler.tlsVersion, try handler.peerCertificate?.toDERBytes())
        }.get()
        return Outcome(version: version, peer: try peer.map { try Certificate(derEncoded: $0) })
    }
}

/// A live listener made by `ServiceHost.makeApplication` with a development certificate.
struct TLSListener {
    let ca: DevelopmentCA
    let other: DevelopmentCA
    let certificate: ServerCertificate

    /// `issuedAt` in the past makes a leaf that is already due for renewal.
    init(issuedAt: Date = Date()) throws {
        let directory = temporaryTLSDirectory()
        ca = try DevelopmentCA.loadOrCreate(in: directory, now: issuedAt)
        other = try DevelopmentCA.loadOrCreate(in: temporaryTLSDirectory())
        certificate = try ServerCertificate(
            source: .development(ca, names: ServerNames(), directory: directory), now: issuedAt)
    }

    func roots(_ ca: DevelopmentCA) throws -> NIOSSLTrustRoots {
        .certificates(try NIOSSLCertificate.fromPEMFile(ca.certificatePath))
    }

    /// Runs `body` with the port of a listener serving `/healthz` over TLS.
    func run(_ body: @Sendable (Int) async throws -> Void) async throws {
        let readiness = Readiness()
        let router = ServiceHost.makeRouter(metrics: ServiceMetrics(service: "tls"), readiness: readiness)
        let app = ServiceHost.makeApplication(
            router: router, listen: ListenAddress(host: "127.0.0.1", port: 0), services: [], readiness: readiness,
            logger: Logger(label: "tls-test"), tls: certificate)
        // `.live` starts the server and reports its port; the requests below use clients of their own, which
        // speak TLS.
        try await app.test(.live) { client in try await body(try #require(client.port)) }
    }
}

/// Sends one GET with `client` and shuts the client down.
func get(_ url: String, with client: HTTPClient) async throws -> Int {
    do {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 16)
        try await client.shutdown()
        return Int(response.status.code)
    } catch {
        try await client.shutdown()
        throw error
    }
}

@Suite("TLS 1.3 on every listener and internal client")
struct TLSListenerTests {
    /// These tests are about trust, not connect latency: at the start of the full suite the machine can stall
    /// for seconds (one CI-like run had a dozen tests wait 10 s together), past the production 2 s.
    static let connectTimeout: TimeAmount = .seconds(30)

    @Test("a listener serves TLS 1.3 with the development CA's leaf")
    func servesTLS13() async throws {
        let listener = try TLSListener()
        try await listener.run { port in
            let outcome = try await TLSProbe.handshake(
                port: port, configuration: PlatformTrust.clientConfiguration(trusting: try listener.roots(listener.ca)))
            #expect(outcome.version == .tlsv13)
            #expect(outcome.peer == listener.certificate.leaf)
            let client = ServiceClient.makeInternalClient(
                tls: PlatformTrust.clientConfiguration(trusting: try listener.roots(listener.ca)),
                connectTimeout: TLSListenerTests.connectTimeout)
            #expect(try await get("https://localhost:\(port)/healthz", with: client) == 200)
        }
    }

    @Test("a client limited to TLS 1.2 is refused")
    func refusesTLS12() async throws {
        let listener = try TLSListener()
        try await listener.run { port in
            var tls12 = PlatformTrust.clientConfiguration(trusting: try listener.roots(listener.ca))
            tls12.minimumTLSVersion = .tlsv1
            tls12.maximumTLSVersion = .tlsv12
            await #expect(throws: (any Error).self) {
                _ = try await TLSProbe.handshake(port: port, configuration: tls12)
            }
            // The same client allowed TLS 1.3 gets through: the refusal is the version, nothing else.
            var tls13 = tls12
            tls13.maximumTLSVersion = nil
            #expect(try await TLSProbe.handshake(port: port, configuration: tls13).version == .tlsv13)
        }
    }

    @Test("the internal client refuses a server whose certificate is not from the platform CA")
    func internalClientVerifiesTheCA() async throws {
        let listener = try TLSListener()
        try await listener.run { port in
            // Each client is shut down whatever the request does: one left running crashes the test process.
            let strangerClient = ServiceClient.makeInternalClient(
                tls: PlatformTrust.clientConfiguration(trusting: try listener.roots(listener.other)),
                connectTimeout: TLSListenerTests.connectTimeout)
            let stranger = ServiceClient(service: "users", baseURL: "https://localhost:\(port)", client: strangerClient)
            let refusal: (any Error)?
            do {
                _ = try await stranger.send(.GET, "/healthz")
                refusal = nil
            } catch {
                refusal = error
            }
            try await strangerClient.shutdown()
            #expect(refusal is ServiceClient.Unavailable)
            let trustingClient = ServiceClient.makeInternalClient(
                tls: PlatformTrust.clientConfiguration(trusting: try listener.roots(listener.ca)),
                connectTimeout: TLSListenerTests.connectTimeout)
            let trusting = ServiceClient(service: "users", baseURL: "https://localhost:\(port)", client: trustingClient)
            let status: Int
            do {
                status = try await trusting.send(.GET, "/healthz").status
            } catch {
                try await trustingClient.shutdown()
                throw error
            }
            try await trustingClient.shutdown()
            #expect(status == 200)
        }
    }

    @Test("a renewed certificate is served to the next connection without a restart")
    func servesRenewedCertificate() async throws {
        // Issued 70 days ago: 20 days left, so the next check replaces it.
        let listener = try TLSListener(issuedAt: Date().addingTimeInterval(-70 * 86_400))
        try await listener.run { port in
            let configuration = PlatformTrust.clientConfiguration(trusting: try listener.roots(listener.ca))
            let before = try await TLSProbe.handshake(port: port, configuration: configuration).peer
            #expect(before == listener.certificate.leaf)
            let renewal = CertificateRenewal(certificate: listener.certificate, logger: Logger(label: "tls-test"))
            let original = listener.certificate.leaf
            renewal.renewNow()
            #expect(listener.certificate.leaf != original)
            let after = try await TLSProbe.handshake(port: port, configuration: configuration).peer
            #expect(after == listener.certificate.leaf)
        }
    }

    @Test("the process's internal client verifies against the platform CA once it is trusted")
    func processTrust() throws {
        let configuration = PlatformTrust.clientConfiguration(trusting: .default)
        #expect(configuration.minimumTLSVersion == .tlsv13)
        #expect(configuration.certificateVerification == .fullVerification)
        let directory = temporaryTLSDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "not a certificate".write(toFile: directory + "/bad.pem", atomically: true, encoding: .utf8)
        #expect(throws: PlatformTrust.Invalid.self) { try PlatformTrust.trust(caCertificateFile: directory + "/bad.pem") }
    }
}
