import BerthAuth
import BerthCore
import BerthStorage
import HTTPTypes
import Hummingbird
import NIOCore

/// Blob uploads: `POST /v2/<name>/blobs/uploads/` (start, monolithic, mount) and
/// `PATCH`/`PUT`/`GET`/`DELETE /v2/<name>/blobs/uploads/<id>`.
struct UploadRoutes {
    let api: RegistryAPI
    /// Blobs carry no media type of their own; events name them as the reference registry does.
    static let blobMediaType = "application/octet-stream"

    func start(_ request: Request, name: String, identity: Identity) async throws -> Response {
        try api.refuseWritesToMirror(try api.repository(name))
        let repository = try api.repository(name)
        if let mount = request.query("mount") {
            let digest = try Digest(parsing: mount)
            // Without `from`, any copy of the blob in this registry may be mounted (OCI 1.1) when
            // everyone may pull everything; with access control only a source the caller may pull
            // is used, and otherwise the answer is an ordinary session, revealing nothing.
            let source = try request.query("from").map { try RepositoryName($0) }
            let mayRead = api.access.isOpen
                || source.map { api.access.actions(identity, repository: $0.value).contains(.pull) } ?? false
            if mayRead, let size = try await api.storage.mountBlob(digest, from: source, into: repository) {
                try await api.emit(.mount, repository: repository, digest: digest, mediaType: Self.blobMediaType, size: size, from: source)
                return created(repository, digest)
            }
            // Not mountable: fall back to an ordinary upload session, as the spec asks.
        } else if let digestString = request.query("digest") {
            let digest = try Digest(parsing: digestString)
            let size = try await api.storage.putBlob(digest, in: repository, length: request.contentLength, body: request.body)
            try await api.emit(.push, repository: repository, digest: digest, mediaType: Self.blobMediaType, size: size)
            return created(repository, digest)
        }
        let id = try await api.storage.startUpload(in: repository)
        return Response(status: .accepted, headers: sessionHeaders(repository, id: id, offset: 0))
    }

    func patch(_ request: Request, name: String, id: String) async throws -> Response {
        let repository = try await session(request, name: name, id: id)
        let (start, length) = try chunkBounds(request)
        do {
            let offset = try await api.storage.appendToUpload(id, in: repository, start: start, length: length, body: request.body)
            return Response(status: .accepted, headers: sessionHeaders(repository, id: id, offset: offset))
        } catch var error as RegistryError where error.code == .rangeInvalid {
            // Tell the client where the session really stands so it can resume.
            error.headers["Location"] = location(repository, id: id)
            error.headers["Docker-Upload-UUID"] = id
            throw error
        }
    }

    func put(_ request: Request, name: String, id: String) async throws -> Response {
        let repository = try await session(request, name: name, id: id)
        guard let digestString = request.query("digest") else {
            throw RegistryError(.digestInvalid, "completing an upload needs ?digest=<algorithm>:<hex> in the URL")
        }
        let digest = try Digest(parsing: digestString)
        let (start, length) = try chunkBounds(request)
        let body: RequestBody? = (request.contentLength == 0) ? nil : request.body
        let size = try await api.storage.completeUpload(id, in: repository, digest: digest, start: start, length: length, finalChunk: body)
        try await api.emit(.push, repository: repository, digest: digest, mediaType: Self.blobMediaType, size: size)
        return created(repository, digest)
    }

    func status(_ request: Request, name: String, id: String) async throws -> Response {
        let repository = try await session(request, name: name, id: id)
        let offset = try await api.storage.uploadOffset(id, in: repository)
        var headers = sessionHeaders(repository, id: id, offset: offset)
        headers[.contentLength] = "0"
        return Response(status: .noContent, headers: headers)
    }

    func cancel(_ request: Request, name: String, id: String) async throws -> Response {
        let repository = try await session(request, name: name, id: id)
        try await api.storage.cancelUpload(id, in: repository)
        return Response(status: .noContent, headers: [.contentLength: "0"])
    }

    /// Validates the repository, the upload id and the signed `_state` (required, as the reference registry does).
    private func session(_ request: Request, name: String, id: String) async throws -> RepositoryName {
        let repository = try api.repository(name)
        guard RegistryStorage.isValidUploadID(id) else {
            throw RegistryError(.blobUploadUnknown, "\(id.prefix(64)) is not an upload id", detail: ["uuid": String(id.prefix(64))])
        }
        guard let state = request.query("_state") else {
            _ = try await api.storage.uploadOffset(id, in: repository)  // an unknown session says so first
            throw RegistryError(.blobUploadInvalid, "the upload URL lacks its _state parameter; use the Location the registry returned",
                                detail: ["uuid": id])
        }
        guard api.signer.verify(state, name: repository.value, id: id) else {
            throw RegistryError(.blobUploadInvalid,
                                "the upload URL's _state was not issued for upload \(id) in \(repository) by a registry with this http.secret; use the Location returned by the registry",
                                detail: ["uuid": id])
        }
        return repository
    }

    /// Start and length of the chunk from `Content-Range` (when sent) and `Content-Length`.
    private func chunkBounds(_ request: Request) throws -> (Int64?, Int64?) {
        let declared = request.contentLength
        guard let header = request.headers[.contentRange] else { return (nil, declared) }
        guard let (start, end) = ByteRange.parseContentRange(header) else {
            throw RegistryError(.rangeInvalid, "malformed Content-Range \(header.prefix(100)): expected <start>-<end>")
        }
        let length = end - start + 1
        if let declared, declared != length {
            throw RegistryError(.sizeInvalid, "Content-Range \(header) covers \(length) bytes but Content-Length is \(declared)")
        }
        return (start, length)
    }

    private func location(_ repository: RepositoryName, id: String) -> String {
        "/v2/\(repository.value)/blobs/uploads/\(id)?_state=\(api.signer.token(name: repository.value, id: id))"
    }

    private func sessionHeaders(_ repository: RepositoryName, id: String, offset: Int64) -> HTTPFields {
        [
            .location: location(repository, id: id),
            .range: RegistryStorage.rangeHeader(offset),
            .dockerUploadUUID: id,
            .contentLength: "0",
        ]
    }

    private func created(_ repository: RepositoryName, _ digest: Digest) -> Response {
        Response(status: .created, headers: [
            .location: "/v2/\(repository.value)/blobs/\(digest)",
            .dockerContentDigest: digest.description,
            .contentLength: "0",
        ])
    }
}
