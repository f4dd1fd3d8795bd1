import BerthCore
import BerthStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /v2/<name>/referrers/<digest>[?artifactType=]`: an image index of the manifests whose
/// subject is the digest, from the index push and delete keep (never a scan).
struct ReferrerRoutes {
    let api: RegistryAPI

    struct Index: Encodable {
        var schemaVersion = 2
        var mediaType = MediaType.ociIndex
        var manifests: [Descriptor]
    }

    func list(_ request: Request, name: String, digest: String, head: Bool) async throws -> Response {
        let repository = try api.repository(name)
        let subject = try Digest(parsing: digest)
        let artifactType = request.query("artifactType").flatMap { $0.isEmpty ? nil : $0 }
        let referrers = try await api.storage.referrers(of: subject, in: repository, artifactType: artifactType)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(Index(manifests: referrers))
        var headers: HTTPFields = [.contentType: MediaType.ociIndex, .contentLength: String(data.count)]
        if artifactType != nil { headers[.ociFiltersApplied] = "artifactType" }
        return Response(status: .ok, headers: headers, body: head ? .init() : .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
