import AsyncHTTPClient
import BerthCore
import BerthProxy
import BerthStorage
import NIOCore

/// Images in this Berth's storage (replication pushes from here).
public struct StorageImageSource: ImageSource {
    public let storage: RegistryStorage
    public init(storage: RegistryStorage) { self.storage = storage }

    public func manifest(_ repository: String, _ reference: String) async throws -> (bytes: ByteBuffer, mediaType: String, digest: Digest)? {
        let name = try RepositoryName(repository)
        guard let stored = try? await storage.getManifest(try Reference(parsing: reference), in: name) else { return nil }
        return (stored.bytes, stored.mediaType, stored.digest)
    }

    public func blob(_ repository: String, _ digest: Digest, size: (Int64) -> Void,
                     _ body: @escaping @Sendable (ByteBuffer) async throws -> Void) async throws {
        size(try await storage.blobSize(digest, in: try RepositoryName(repository)))
        let reader = try await storage.openBlob(digest)
        try await reader.read(range: nil, body)
    }
}

/// Images in a remote registry (`berth copy`'s source).
public struct RemoteImageSource: ImageSource {
    public let registry: UpstreamRegistry
    public init(registry: UpstreamRegistry) { self.registry = registry }

    public func manifest(_ repository: String, _ reference: String) async throws -> (bytes: ByteBuffer, mediaType: String, digest: Digest)? {
        let answer = try await registry.send(.GET, "/v2/\(repository)/manifests/\(reference)", repository: repository,
                                             accept: UpstreamRegistry.manifestTypes)
        guard answer.status == 200 else {
            _ = try? await answer.body.collect(upTo: 64 << 10)
            if answer.status == 404 { return nil }
            throw CopyError("\(registry.remoteURL) answered \(answer.status) for manifest \(repository):\(reference)")
        }
        let bytes = try await answer.body.collect(upTo: RegistryStorage.maxManifestBytes)
        let digest = Digest.compute(bytes.readableBytesView)
        if let claimed = answer.headers.first(name: "Docker-Content-Digest"), claimed != digest.description {
            throw CopyError("manifest \(repository):\(reference) from \(registry.remoteURL) does not match its digest \(claimed)")
        }
        let mediaType = answer.headers.first(name: "Content-Type") ?? "application/vnd.oci.image.manifest.v1+json"
        return (bytes, mediaType, digest)
    }

    public func blob(_ repository: String, _ digest: Digest, size: (Int64) -> Void,
                     _ body: @escaping @Sendable (ByteBuffer) async throws -> Void) async throws {
        let answer = try await registry.send(.GET, "/v2/\(repository)/blobs/\(digest)", repository: repository)
        guard answer.status == 200, let length = answer.headers.first(name: "Content-Length").flatMap({ Int64($0) }) else {
            _ = try? await answer.body.collect(upTo: 64 << 10)
            throw CopyError("\(registry.remoteURL) answered \(answer.status) for blob \(digest) of \(repository)")
        }
        size(length)
        // Verified on the way: the destination checks the digest too, but a mismatch is named here.
        var hasher = DigestHasher(digest.algorithm)
        for try await piece in answer.body {
            piece.withUnsafeReadableBytes { hasher.update($0) }
            try await body(piece)
        }
        guard hasher.finalize() == digest else {
            throw CopyError("blob \(digest) of \(repository) from \(registry.remoteURL) does not match its digest")
        }
    }
}
