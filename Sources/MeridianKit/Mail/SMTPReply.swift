/// One SMTP reply (RFC 5321 §4.2): the three-digit code, the text of all its lines joined by "\n", and the
/// enhanced status code (RFC 3463, e.g. `5.1.1`) when the server sent one.
public struct SMTPReply: Sendable, Error, Equatable, CustomStringConvertible {
    public let code: Int
    public let text: String
    public let enhancedStatus: String?

    public init(code: Int, text: String) {
        self.code = code
        self.text = text
        self.enhancedStatus = SMTPReply.enhancedStatus(in: text, code: code)
    }

    public var isPositive: Bool { code >= 200 && code < 400 }
    /// 4xx: try again later (greylisting, a full mailbox, a busy server). Everything else that is not positive is
    /// permanent: retrying a 5xx would only be refused again.
    public var isTransient: Bool { code >= 400 && code < 500 }
    public var isPermanent: Bool { code >= 500 }

    /// Code and enhanced status only: reply texts often echo the recipient's address, which must not reach logs.
    public var description: String { "SMTP \(code)" + (enhancedStatus.map { " \($0)" } ?? "") }

    private static func enhancedStatus(in text: String, code: Int) -> String? {
        guard let first = text.split(separator: "\n").first?.split(separator: " ").first else { return nil }
        let parts = first.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let klass = Int(parts[0]), klass == code / 100, [2, 4, 5].contains(klass),
            parts[1].count <= 3, parts[2].count <= 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) })
        else { return nil }
        return String(first)
    }
}

/// A failure that is not a reply from the server: the connection, TLS, the server's capabilities or our own
/// configuration. `isTransient` tells a caller whether retrying later can help.
public enum SMTPError: Error, Sendable, Equatable, CustomStringConvertible {
    case connectionFailed(String)
    /// The server closed the connection, or it broke, before the exchange ended. During DATA this means the
    /// message may or may not have been delivered: a retry can duplicate it (with the same Message-ID).
    case connectionClosed
    case timeout(stage: String)
    case tlsFailed(String)
    /// STARTTLS was required but the server does not offer it (or refused it): never fall back to plain text.
    case startTLSUnavailable
    /// Credentials are configured, the connection is not encrypted and the host is not loopback.
    case credentialsOverPlaintext
    /// The server wants none of the mechanisms we speak (PLAIN, LOGIN), or offers no AUTH at all.
    case authenticationUnavailable
    /// The server's SIZE limit (RFC 1870) is smaller than the message.
    case messageTooLarge(size: Int, limit: Int)
    case protocolViolation(String)
    case invalidConfiguration(String)
    case shutDown

    public var isTransient: Bool {
        switch self {
        case .connectionFailed, .connectionClosed, .timeout, .tlsFailed, .shutDown: true
        case .startTLSUnavailable, .credentialsOverPlaintext, .authenticationUnavailable, .messageTooLarge,
            .protocolViolation, .invalidConfiguration:
            false
        }
    }

    public var description: String {
        switch self {
        case .connectionFailed(let why): "SMTP connection failed: \(why)"
        case .connectionClosed: "the SMTP server closed the connection"
        case .timeout(let stage): "the SMTP server did not answer in time (\(stage))"
        case .tlsFailed(let why): "TLS with the SMTP server failed: \(why)"
        case .startTLSUnavailable: "the SMTP server does not offer STARTTLS"
        case .credentialsOverPlaintext: "refusing to send SMTP credentials over an unencrypted connection"
        case .authenticationUnavailable: "the SMTP server offers no authentication mechanism we support"
        case .messageTooLarge(let size, let limit): "the message (\(size) bytes) exceeds the server's limit (\(limit))"
        case .protocolViolation(let why): "SMTP protocol violation: \(why)"
        case .invalidConfiguration(let why): "invalid SMTP configuration: \(why)"
        case .shutDown: "the SMTP client is shut down"
        }
    }
}

/// What happened to each recipient of one message. Recipients the server refused at RCPT TO are in `rejected`
/// with the reply; the message went to every recipient in `accepted`.
public struct SMTPSendResult: Sendable {
    public let accepted: [MailAddress]
    public let rejected: [(MailAddress, SMTPReply)]
    /// The server's answer to the end of DATA (its queue id is usually in the text), nil when nobody was accepted.
    public let dataReply: SMTPReply?

    public init(accepted: [MailAddress], rejected: [(MailAddress, SMTPReply)], dataReply: SMTPReply?) {
        self.accepted = accepted
        self.rejected = rejected
        self.dataReply = dataReply
    }
}
