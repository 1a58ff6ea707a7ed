import Tracing

/// The client span of one message handed to the SMTP server (`smtp send`): the server's address and port, and
/// how it answered (reply code, refused recipients counted). Never an address, a subject or a body: replies
/// often quote the recipient, so an error is recorded by its reply code or type, not its text.
enum SMTPSendSpan {
    static func run(
        configuration: SMTPConfiguration, _ body: () async throws -> SMTPSendResult
    ) async throws -> SMTPSendResult {
        guard TracingSetup.isExporting else { return try await body() }
        let outcome: Result<SMTPSendResult, any Error> = await withSpan("smtp send", ofKind: .client) { span in
            span.updateAttributes { attributes in
                attributes["server.address"] = configuration.host
                attributes["server.port"] = configuration.port
                attributes["network.protocol.name"] = "smtp"
            }
            do {
                let result = try await body()
                span.attributes["smtp.rejected_recipients"] = result.rejected.count
                if let code = result.dataReply?.code { span.attributes["smtp.reply.code"] = code }
                if !result.rejected.isEmpty { span.setStatus(SpanStatus(code: .error, message: "recipient refused")) }
                return .success(result)
            } catch let reply as SMTPReply {
                span.attributes["smtp.reply.code"] = reply.code
                span.attributes["error.type"] = String(reply.code)
                span.setStatus(SpanStatus(code: .error, message: "SMTP \(reply.code)"))
                return .failure(reply)
            } catch {
                let type = String(describing: Swift.type(of: error))
                span.attributes["error.type"] = type
                span.setStatus(SpanStatus(code: .error, message: type))
                return .failure(error)
            }
        }
        return try outcome.get()
    }
}
