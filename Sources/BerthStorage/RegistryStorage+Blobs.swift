import BerthCore
import NIOCore

extension RegistryStorage {
    /// The size of a blob the repository may serve: linked as a layer, or stored as one of its manifests.
    /// Throws `BLOB_UNKNOWN` otherwise.
    public func blobSize(_ digest: Digest, in repository: RepositoryName) async throws -> Int64 {
        if let descriptors, let size = await descriptors.size(of: digest, in: repository) {
            statistics.cacheCounters.record(.blobDescriptor, hit: true)
            return size
        }
        if descriptors != nil { statistics.cacheCounters.record(.blobDescriptor, hit: false) }
        let size = try await blobSizeFromStorage(digest, in: repository)
        await descriptors?.remember(digest, size: size, in: repository)
        return size
    }

    private func blobSizeFromStorage(_ digest: Digest, in repository: RepositoryName) async throws -> Int64 {
        guard try await isBlobLinked(digest, in: repository) else {
            throw RegistryError(.blobUnknown, "blob \(digest) is not known to repository \(repository)",
                                detail: ["digest": digest.description])
        }
        if let size = content.size(digest) {
            statistics.cacheCounters.record(.blobSize, hit: true)
            return size
        }
        statistics.cacheCounters.record(.blobSize, hit: false)
        guard let info = try await driver.statIfExists(StoragePath.blobData(digest).path) else {
            throw RegistryError(.blobUnknown, "blob \(digest) is linked in \(repository) but its content is missing",
                                detail: ["digest": digest.description])
        }
        content.setSize(digest, info.size)
        return info.size
    }

    func isBlobLinked(_ digest: Digest, in repository: RepositoryName) async throws -> Bool {
        if try await driver.exists(StoragePath.layerLink(repository, digest).path) { return true }
        return try await driver.exists(StoragePath.manifestRevisionLink(repository, digest).path)
    }

    /// Streams a blob's content (or `range` of it).
    public func readBlob(_ digest: Digest, range: Range<Int64>?, _ body: (ByteBuffer) async throws -> Void) async throws {
        try await driver.read(StoragePath.blobData(digest).path, range: range, body)
    }

    /// Opens a blob's content to stream it. `BLOB_UNKNOWN` when the content is gone (collected
    /// since its link was checked): thrown before the caller has answered anything.
    public func openBlob(_ digest: Digest) async throws -> any StorageReader {
        do {
            return try await driver.openForReading(StoragePath.blobData(digest).path)
        } catch StorageDriverError.notFound {
            throw RegistryError(.blobUnknown, "blob \(digest) is no longer stored", detail: ["digest": digest.description])
        }
    }

    /// A URL clients may fetch a blob's content from directly for `expiry` seconds (S3 presigned
    /// URLs); nil when the driver serves content only through Berth.
    public func blobRedirectURL(_ digest: Digest, expiry: Int = 1200) async throws -> String? {
        try await driver.redirectURL(StoragePath.blobData(digest).path, expiry: expiry)
    }

    /// The local file holding a blob's content, when the driver keeps blobs as local files.
    public func blobLocalFile(_ digest: Digest) -> String? {
        driver.localFile(StoragePath.blobData(digest).path)
    }

    /// Links a blob of `source` (of any repository when nil) into `target` (cross-repository
    /// mount). Returns its size, or nil when the blob is not there (the caller then starts an
    /// ordinary upload).
    public func mountBlob(_ digest: Digest, from source: RepositoryName?, into target: RepositoryName) async throws -> Int64? {
        try await pin([digest])  // before the checks (docs/garbage-collection.md)
        if let source, try await !isBlobLinked(digest, in: source) { return nil }
        guard let info = try await driver.statIfExists(StoragePath.blobData(digest).path) else { return nil }
        try await writeLink(.layerLink(target, digest), to: digest)
        return info.size
    }
}
