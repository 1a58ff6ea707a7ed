import Foundation
import HTTPTypes
import Hummingbird
import MeridianKit
import NIOCore

/// `GET /api/openapi.yaml`: the public API contract, shipped as a resource of this module.
struct OpenAPIRoute: Sendable {
    let document: ByteBuffer

    /// Reads the document once, at start-up.
    init() throws {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
            let data = try? Data(contentsOf: url)
        else {
            throw GatewayConfigurationError(description: "the OpenAPI document is missing from the gateway's resources")
        }
        self.document = ByteBuffer(bytes: data)
    }

    func register(on router: Router<MeridianRequestContext>) {
        let document = document
        router.get("/api/openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml", .cacheControl: "no-cache"],
                body: .init(byteBuffer: document))
        }
    }
}
