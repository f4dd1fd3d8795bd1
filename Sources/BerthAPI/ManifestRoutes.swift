import BerthAuth
import BerthCore
import BerthStorage
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`.
struct ManifestRoutes {
    let api: RegistryAPI
    static let maxTagParameters = 100

    func get(name: String, reference: String, head: Bool) async throws -> Response {
        let repository = try api.repository(name)
        let ref = try Reference(parsing: reference)
        if let pullThrough = api.pullThrough, pullThrough.mirrors(repository) {
            try await pullThrough.prepareManifest(ref, in: repository)
        }
        let manifest = try await api.storage.getManifest(ref, in: repository)
        if !head {
            try await api.emit(.pull, repository: repository, digest: manifest.digest, mediaType: manifest.mediaType,
                               size: Int64(manifest.bytes.readableBytes), tags: ref.tagName.map { [$0] } ?? [])
        }
        let headers: HTTPFields = [
            .contentType: manifest.mediaType,
            .dockerContentDigest: manifest.digest.description,
            .eTag: "\"\(manifest.digest)\"",
            .contentLength: String(manifest.bytes.readableBytes),
        ]
        return Response(status: .ok, headers: headers, body: head ? .init() : .init(byteBuffer: manifest.bytes))
    }

    /// Whether `identity` may move or delete immutable tags of the repository.
    func mayOverwrite(_ identity: Identity, _ name: String) -> Bool {
        !api.storage.immutability.isEmpty && api.access.actions(identity, repository: name).contains(.overwrite)
    }

    func put(_ request: Request, name: String, reference: String, identity: Identity) async throws -> Response {
        let repository = try api.repository(name)
        try api.refuseWritesToMirror(repository)
        let ref = try Reference(parsing: reference)
        let limit = RegistryStorage.maxManifestBytes
        if let length = request.contentLength, length > limit {
            throw RegistryError(.manifestTooLarge, "manifest of \(length) bytes exceeds the \(limit)-byte limit")
        }
        // Tags given as `?tag=` parameters (pushing by digest with tags, OCI 1.1+).
        let extraTags = try request.uri.queryParameters[values: "tag"].map { try Tag($0) }
        if extraTags.count > Self.maxTagParameters {
            throw RegistryError(.tagInvalid, "at most \(Self.maxTagParameters) tag parameters are accepted per request, not \(extraTags.count)")
        }
        let bytes = try await request.body.collect(upTo: limit)
        let (digest, manifest) = try await api.storage.putManifest(bytes, contentType: request.headers[.contentType],
                                                                   reference: ref, tags: extraTags, in: repository,
                                                                   overwrite: mayOverwrite(identity, name))
        var headers: HTTPFields = [
            .location: "/v2/\(repository.value)/manifests/\(digest)",
            .dockerContentDigest: digest.description,
            .contentLength: "0",
        ]
        if let subject = manifest.subject {
            headers[.ociSubject] = subject.digest.description
        }
        if !extraTags.isEmpty {
            headers[.ociTag] = extraTags.map(\.value).joined(separator: ", ")
        }
        let tags = (ref.tagName.map { [$0] } ?? []) + extraTags.map(\.value)
        try await api.emit(.push, repository: repository, digest: digest, mediaType: manifest.mediaType,
                           size: Int64(bytes.readableBytes), tags: tags)
        return Response(status: .created, headers: headers)
    }

    func delete(name: String, reference: String, identity: Identity) async throws -> Response {
        let repository = try api.repository(name)
        let ref = try Reference(parsing: reference)
        try api.requireDeleteEnabled()
        try api.refuseWritesToMirror(repository)
        try await api.storage.deleteManifest(ref, in: repository, overwrite: mayOverwrite(identity, name))
        switch ref {
        case .digest(let digest): try await api.emit(.delete, repository: repository, digest: digest, mediaType: nil, size: nil)
        case .tag(let tag): try await api.emit(.delete, repository: repository, digest: nil, mediaType: nil, size: nil, tags: [tag.value])
        }
        return Response(status: .accepted, headers: [.contentLength: "0"])
    }
}
