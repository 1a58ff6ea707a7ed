import Foundation
import HTTPTypes
import Hummingbird
import MeridianKit

/// Segment's tracking API (`/v1/batch`, `/v1/track`, `/v1/identify`, `/v1/page`), so an existing Segment SDK
/// pointed at Meridian works unchanged. Public at the gateway and in the route table: the write key, sent as
/// the HTTP Basic user name, is the credential, checked here.
struct SegmentRoutes: Sendable {
    let batches: BatchIngestion
    let writeKeys: WriteKeyStore
    let configuration: AnalyticsConfiguration

    func register(on router: Router<MeridianRequestContext>) {
        router.post("/v1/batch") { request, context in try await ingest(request, context, type: nil) }
        for type in ["track", "identify", "page"] {
            router.post(RouterPath("/v1/\(type)")) { request, context in try await ingest(request, context, type: type) }
        }
    }

    func ingest(_ request: Request, _ context: MeridianRequestContext, type: String?) async throws -> Response {
        let receivedAt = Date()
        try await authorise(request)
        if let encoding = request.headers[.contentEncoding], encoding.lowercased() != "identity" {
            throw Problem(
                .unsupportedMediaType, detail: "Content-Encoding \(encoding.prefix(40)) is not supported; send the body uncompressed.")
        }
        let members = try await BatchBody.read(request, context: context)
        let elements: [JSONValue] = type == nil ? try BatchBody.elements(members, key: "batch") : [.object(members)]
        let sentAt = try BatchBody.time(members, key: "sentAt")
        let reader = SegmentMessageReader(
            clock: EventClock(receivedAt: receivedAt, sentAt: sentAt, configuration: configuration),
            breakdowns: PropertyBreakdowns(names: configuration.propertyBreakdowns))
        let report = try await batches.ingest(elements, receivedAt: receivedAt, source: .segment) { reader.read($0, impliedType: type) }
        return try Response.json(SegmentReport(report: report))
    }

    /// HTTP Basic with the write key as the user name (the password is empty, as Segment's SDKs send it).
    private func authorise(_ request: Request) async throws {
        let values = request.headers[values: .authorization]
        guard values.count == 1, let secret = SegmentRoutes.writeKey(values[0]) else {
            throw Problem.invalidWriteKey("Send the write key as the HTTP Basic user name.")
        }
        guard try await writeKeys.isLive(secret: secret) else {
            throw Problem.invalidWriteKey("The write key is unknown or revoked.")
        }
    }

    static func writeKey(_ header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
            let credentials = String(data: decoded, encoding: .utf8)
        else { return nil }
        let user = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
        guard let user, !user.isEmpty, user.count <= 200 else { return nil }
        return user
    }
}

/// Segment's answer shape (`success`) with Meridian's per-event report beside it.
struct SegmentReport: Encodable, Sendable {
    var success = true
    var accepted: Int
    var duplicates: Int
    var rejected: [BatchReport.Rejection]

    init(report: BatchReport) {
        accepted = report.accepted
        duplicates = report.duplicates
        rejected = report.rejected
    }
}

extension Problem {
    static func invalidWriteKey(_ detail: String) -> Problem {
        Problem(
            .unauthorized, type: Problem.typeBase + "invalid-write-key", title: "Unauthorized", detail: detail,
            headers: [.wwwAuthenticate: #"Basic realm="segment""#])
    }
}
