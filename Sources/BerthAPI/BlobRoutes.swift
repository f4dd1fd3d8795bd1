import BerthCore
import BerthStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`.
struct BlobRoutes {
    let api: RegistryAPI

    /// `askUpstream`: a blob a mirroring repository lacks is looked for upstream (once).
    func get(_ request: Request, name: String, digest digestString: String, head: Bool, askUpstream: Bool = true) async throws -> Response {
        let repository = try api.repository(name)
        let digest = try Digest(parsing: digestString)
        let size: Int64
        do {
            size = try await api.storage.blobSize(digest, in: repository)
        } catch let error as RegistryError where error.code == .blobUnknown {
            guard askUpstream, let pullThrough = api.pullThrough, pullThrough.mirrors(repository) else { throw error }
            guard let response = try await fromUpstream(pullThrough, digest, repository, head: head, notFound: error) else {
                // Fetched by another request meanwhile: served from storage like any blob.
                return try await get(request, name: name, digest: digestString, head: head, askUpstream: false)
            }
            return response
        }
        var headers = Self.headers(digest)
        headers[.acceptRanges] = "bytes"
        var status = HTTPResponse.Status.ok
        var range: Range<Int64>? = nil
        switch ByteRange.resolve(request.headers[.range], size: size) {
        case .whole:
            break
        case .unsatisfiable:
            throw RegistryError(.rangeInvalid, "range \(request.headers[.range] ?? "") is outside the blob, which has \(size) bytes",
                                headers: ["Content-Range": "bytes */\(size)"])
        case .partial(let r):
            status = .partialContent
            range = r
            headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(size)"
        }
        let length = range.map { $0.upperBound - $0.lowerBound } ?? size
        headers[.contentLength] = String(length)
        if head || length == 0 {
            return Response(status: status, headers: headers)
        }
        try await api.emit(.pull, repository: repository, digest: digest, mediaType: UploadRoutes.blobMediaType, size: size)
        if api.settings.redirect, let url = try await api.storage.blobRedirectURL(digest) {
            // The client fetches the content (or its Range) from object storage directly.
            return Response(status: .temporaryRedirect, headers: [
                .location: url, .dockerContentDigest: digest.description, .contentLength: "0",
            ])
        }
        let start = range?.lowerBound ?? 0
        if request.headers[ZeroCopyFiles.capabilityHeader] == ZeroCopyFiles.shared.key,
           let file = api.storage.blobLocalFile(digest),
           let descriptor = Self.openForSending(file, end: start + length) {
            let body = ResponseBody(contentLength: Int(length)) { writer in
                let (id, marker) = ZeroCopyFiles.shared.register(descriptor: descriptor, offset: start, length: length)
                do {
                    try await writer.write(marker)
                } catch {
                    ZeroCopyFiles.shared.cancel(id)
                    throw error
                }
                try await writer.finish(nil)
            }
            return Response(status: status, headers: headers, body: body)
        }
        // Opened before answering: content collected since the link check is a 404, not a 200
        // whose body stops short.
        let reader = try await api.storage.openBlob(digest)
        let range_ = range
        let body = ResponseBody(contentLength: Int(length)) { writer in
            try await reader.read(range: range_) { chunk in try await writer.write(chunk) }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    static func headers(_ digest: Digest) -> HTTPFields {
        [
            .contentType: "application/octet-stream",
            .dockerContentDigest: digest.description,
            .eTag: "\"\(digest)\"",
            .cacheControl: "max-age=31536000",
        ]
    }

    /// A blob a mirroring repository does not hold yet: its size from the upstream for a HEAD, its
    /// content streamed from the upstream (and stored) for a GET. Ranges are answered once stored.
    /// nil when another request fetched it meanwhile (or the upstream has none): storage answers.
    private func fromUpstream(_ cache: any PullThroughCache, _ digest: Digest, _ repository: RepositoryName,
                              head: Bool, notFound: RegistryError) async throws -> Response? {
        var headers = Self.headers(digest)
        if head {
            guard let size = try await cache.upstreamBlobSize(digest, in: repository) else { throw notFound }
            headers[.contentLength] = String(size)
            return Response(status: .ok, headers: headers)
        }
        guard let (size, body) = try await cache.fetchBlob(digest, in: repository) else { return nil }
        try await api.emit(.pull, repository: repository, digest: digest, mediaType: UploadRoutes.blobMediaType, size: size)
        headers[.contentLength] = String(size)
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Opens a blob file for a zero-copy send, checking it holds at least `end` bytes; nil
    /// (and the ordinary streamed path) on any failure.
    private static func openForSending(_ path: String, end: Int64) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, Int64(st.st_size) >= end else {
            close(fd)
            return nil
        }
        return fd
    }

    func delete(name: String, digest digestString: String) async throws -> Response {
        let repository = try api.repository(name)
        let digest = try Digest(parsing: digestString)
        try api.requireDeleteEnabled()
        try api.refuseWritesToMirror(repository)
        try await api.storage.unlinkBlob(digest, from: repository)
        try await api.emit(.delete, repository: repository, digest: digest, mediaType: nil, size: nil)
        return Response(status: .accepted, headers: [.contentLength: "0"])
    }
}

extension RegistryAPI {
    func requireDeleteEnabled() throws(RegistryError) {
        guard settings.deleteEnabled else {
            throw RegistryError(.unsupported, "deletes are disabled on this registry (set storage.delete.enabled: true to allow them)")
        }
    }
}
