import BerthCore
import NIOCore

/// A manifest as stored: the exact bytes received, their digest and the media type to serve.
public struct StoredManifest: Sendable {
    public var digest: Digest
    public var mediaType: String
    public var bytes: ByteBuffer
}

extension RegistryStorage {
    /// Validates and stores a manifest, then points `reference` at it when that is a tag.
    /// The content and its revision link are written before the tag moves, so a crash never
    /// leaves a tag pointing at a manifest that is not fully stored.
    public func putManifest(_ bytes: ByteBuffer, contentType: String?, reference: Reference,
                            in repository: RepositoryName) async throws -> (digest: Digest, manifest: ParsedManifest) {
        let algorithm: DigestAlgorithm
        if case .digest(let d) = reference { algorithm = d.algorithm } else { algorithm = .sha256 }
        var hasher = DigestHasher(algorithm)
        bytes.withUnsafeReadableBytes { hasher.update($0) }
        let digest = hasher.finalize()
        if case .digest(let given) = reference, given != digest {
            throw RegistryError(.digestInvalid, "manifest content has digest \(digest), not the \(given) in the URL",
                                detail: ["digest": given.description])
        }
        let manifest = try ParsedManifest.parse(bytes.readableBytesView, contentType: contentType)
        try await checkReferences(of: manifest, in: repository)

        let blobPath = StoragePath.blobData(digest).path
        if try await driver.statIfExists(blobPath)?.size != Int64(bytes.readableBytes) {
            try await driver.putContent(blobPath, bytes)
        }
        let mediaTypePath = StoragePath.manifestMediaType(digest).path
        if ParsedManifest.inferMediaType(bytes.readableBytesView) != manifest.mediaType {
            try await driver.putContent(mediaTypePath, string: manifest.mediaType)
            mediaTypes.set(digest, manifest.mediaType)
        }
        try await writeLink(.manifestRevisionLink(repository, digest), to: digest)
        if case .tag(let tag) = reference {
            try await writeLink(.tagIndexLink(repository, tag, digest), to: digest)
            try await writeLink(.tagCurrentLink(repository, tag), to: digest)
        }
        return (digest, manifest)
    }

    /// Every blob a manifest references must be in the repository, and every child of an index
    /// must be a manifest stored in it; otherwise `MANIFEST_BLOB_UNKNOWN` names the first missing one.
    private func checkReferences(of manifest: ParsedManifest, in repository: RepositoryName) async throws {
        for descriptor in manifest.requiredBlobs {
            let linked = try await isBlobLinked(descriptor.digest, in: repository)
            guard linked, let info = try await driver.statIfExists(StoragePath.blobData(descriptor.digest).path) else {
                throw RegistryError(.manifestBlobUnknown,
                                    "manifest references blob \(descriptor.digest), which is not in repository \(repository): push the blob first",
                                    detail: ["digest": descriptor.digest.description])
            }
            guard info.size == descriptor.size else {
                throw RegistryError(.manifestInvalid,
                                    "descriptor of \(descriptor.digest) says \(descriptor.size) bytes but the stored blob has \(info.size)",
                                    detail: ["digest": descriptor.digest.description])
            }
        }
        for child in manifest.manifests {
            guard try await driver.exists(StoragePath.manifestRevisionLink(repository, child.digest).path) else {
                throw RegistryError(.manifestBlobUnknown,
                                    "index references manifest \(child.digest), which is not in repository \(repository): push the child manifests first",
                                    detail: ["digest": child.digest.description])
            }
        }
    }

    /// The digest a tag or digest reference names in the repository; `MANIFEST_UNKNOWN` if none.
    public func resolveManifest(_ reference: Reference, in repository: RepositoryName) async throws -> Digest {
        switch reference {
        case .digest(let digest):
            guard try await driver.exists(StoragePath.manifestRevisionLink(repository, digest).path) else {
                throw Self.manifestUnknown(reference, repository)
            }
            return digest
        case .tag(let tag):
            do {
                return try await readLink(.tagCurrentLink(repository, tag))
            } catch StorageDriverError.notFound {
                throw Self.manifestUnknown(reference, repository)
            }
        }
    }

    /// Reads a manifest by tag or digest.
    public func getManifest(_ reference: Reference, in repository: RepositoryName) async throws -> StoredManifest {
        let digest = try await resolveManifest(reference, in: repository)
        let bytes: ByteBuffer
        do {
            bytes = try await driver.getContent(StoragePath.blobData(digest).path, maxBytes: Self.maxManifestBytes)
        } catch StorageDriverError.notFound {
            throw RegistryError(.manifestUnknown, "manifest \(digest) is linked in \(repository) but its content is missing",
                                detail: ["digest": digest.description])
        }
        return StoredManifest(digest: digest, mediaType: try await mediaType(of: digest, bytes: bytes), bytes: bytes)
    }

    private func mediaType(of digest: Digest, bytes: ByteBuffer) async throws -> String {
        if let cached = mediaTypes.get(digest) { return cached }
        let type: String
        if let recorded = try? await driver.getString(StoragePath.manifestMediaType(digest).path, maxBytes: 256) {
            type = recorded.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            type = ParsedManifest.inferMediaType(bytes.readableBytesView)
        }
        mediaTypes.set(digest, type)
        return type
    }

    static func manifestUnknown(_ reference: Reference, _ repository: RepositoryName) -> RegistryError {
        RegistryError(.manifestUnknown, "manifest \(reference) is not in repository \(repository)",
                      detail: ["reference": reference.description])
    }

    /// Tags of a repository, sorted lexically (bytewise). `NAME_UNKNOWN` if the repository does not exist.
    public func listTags(in repository: RepositoryName) async throws -> [String] {
        do {
            let names = try await driver.list(StoragePath.tags(repository).path)
            return names.filter { Tag.isValid($0) }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        } catch StorageDriverError.notFound {
            // A repository exists once it holds a manifest; a namespace prefix or a directory
            // left by an upload alone is not one.
            guard try await driver.exists(StoragePath.manifestRevisions(repository).path) else {
                throw RegistryError(.nameUnknown, "repository \(repository) is not known to the registry",
                                    detail: ["name": repository.value])
            }
            return []
        }
    }
}
