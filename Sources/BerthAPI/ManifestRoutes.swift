import BerthCore
import BerthStorage
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`.
struct ManifestRoutes {
    let api: RegistryAPI

    func get(name: String, reference: String, head: Bool) async throws -> Response {
        let repository = try api.repository(name)
        let ref = try Reference(parsing: reference)
        let manifest = try await api.storage.getManifest(ref, in: repository)
        let headers: HTTPFields = [
            .contentType: manifest.mediaType,
            .dockerContentDigest: manifest.digest.description,
            .eTag: "\"\(manifest.digest)\"",
            .contentLength: String(manifest.bytes.readableBytes),
        ]
        return Response(status: .ok, headers: headers, body: head ? .init() : .init(byteBuffer: manifest.bytes))
    }

    func put(_ request: Request, name: String, reference: String) async throws -> Response {
        let repository = try api.repository(name)
        let ref = try Reference(parsing: reference)
        let limit = RegistryStorage.maxManifestBytes
        if let length = request.contentLength, length > limit {
            throw RegistryError(.manifestTooLarge, "manifest of \(length) bytes exceeds the \(limit)-byte limit")
        }
        let bytes = try await request.body.collect(upTo: limit)
        let (digest, _) = try await api.storage.putManifest(bytes, contentType: request.headers[.contentType],
                                                            reference: ref, in: repository)
        return Response(status: .created, headers: [
            .location: "/v2/\(repository.value)/manifests/\(digest)",
            .dockerContentDigest: digest.description,
            .contentLength: "0",
        ])
    }

    func delete(name: String, reference: String) async throws -> Response {
        let repository = try api.repository(name)
        let ref = try Reference(parsing: reference)
        try api.requireDeleteEnabled()
        try await api.storage.deleteManifest(ref, in: repository)
        return Response(status: .accepted, headers: [.contentLength: "0"])
    }
}
