import BerthCore
import NIOCore

/// A manifest as stored: the exact bytes received, their digest and the media type to serve.
public struct StoredManifest: Sendable {
    public var digest: Digest
    public var mediaType: String
    public var bytes: ByteBuffer
}

extension RegistryStorage {
    /// Validates and stores a manifest, then points `reference` (when a tag) and `tags` at it.
    /// The content, its indexes and its revision link are written before any tag moves, so a
    /// crash never leaves a tag pointing at a manifest that is not fully stored. Immutable tags
    /// that exist and point elsewhere refuse the push before anything is stored, unless `overwrite`.
    /// `sparse` skips the check that referenced content is stored (a pull-through cache stores a
    /// manifest before the layers it fetches when they are pulled).
    public func putManifest(_ bytes: ByteBuffer, contentType: String?, reference: Reference, tags: [Tag] = [],
                            in repository: RepositoryName, overwrite: Bool = false,
                            sparse: Bool = false) async throws -> (digest: Digest, manifest: ParsedManifest) {
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
        var allTags = tags
        if case .tag(let tag) = reference { allTags.insert(tag, at: 0) }
        let guarded = overwrite ? [] : allTags.filter { immutability.rule(for: $0.value, in: repository.value) != nil }
        for tag in guarded { try await refuseMovingImmutable(tag, to: digest, in: repository) }
        if !quotas.isEmpty {
            let blobs = ((manifest.config.map { [$0] } ?? []) + manifest.layers).filter { !$0.isExternal }
            try await checkQuota(adding: [(digest, Int64(bytes.readableBytes))] + blobs.map { ($0.digest, $0.size) }, to: repository)
        }
        // Pinned before anything is checked, so a concurrent garbage collection puts back what
        // this push relies on (docs/garbage-collection.md).
        let referenced = [digest] + ((manifest.config.map { [$0] } ?? []) + manifest.layers + manifest.manifests).map(\.digest)
        try await pin(referenced)
        if !sparse { try await checkReferences(of: manifest, in: repository) }

        let blobPath = StoragePath.blobData(digest).path
        if try await driver.statIfExists(blobPath)?.size != Int64(bytes.readableBytes) {
            try await driver.putContent(blobPath, bytes)
            statistics.record(blobs: 1, bytes: Int64(bytes.readableBytes))
        }
        let mediaTypePath = StoragePath.manifestMediaType(digest).path
        if ParsedManifest.inferMediaType(bytes.readableBytesView) != manifest.mediaType {
            try await driver.putContent(mediaTypePath, string: manifest.mediaType)
            mediaTypes.set(digest, manifest.mediaType)
            content.forget(digest)
        }
        try await ensureIndexed(repository, forWrite: true)
        try await recordReferrer(digest, size: Int64(bytes.readableBytes), manifest, in: repository)
        let revisionLink = StoragePath.manifestRevisionLink(repository, digest)
        let isNewInRepository = try await !driver.exists(revisionLink.path)
        try await writeLink(revisionLink, to: digest)
        if isNewInRepository { statistics.record(manifests: 1) }
        for tag in allTags {
            try await moveTag(tag, to: digest, in: repository, exclusive: guarded.contains(tag))
        }
        try await addToCatalog(repository)
        overviewChanged(repository)
        return (digest, manifest)
    }

    /// Throws `DENIED` if the immutable `tag` exists and points at another manifest than `digest`.
    func refuseMovingImmutable(_ tag: Tag, to digest: Digest, in repository: RepositoryName) async throws {
        guard let rule = immutability.rule(for: tag.value, in: repository.value),
              let current = try? await readLink(.tagCurrentLink(repository, tag)), current != digest else { return }
        throw immutability.refusal(tag, in: repository, rule: rule, "it points at \(current) and cannot be moved")
    }

    /// Every blob a manifest references must be in the repository, and every child of an index
    /// must be a manifest stored in it; otherwise `MANIFEST_BLOB_UNKNOWN` names the first missing one.
    private func checkReferences(of manifest: ParsedManifest, in repository: RepositoryName) async throws {
        let required = validation.requireLayers ? manifest.requiredBlobs : manifest.config.map { [$0] } ?? []
        for descriptor in required {
            // The same check a blob HEAD makes (link, then size from the cache or storage).
            let size: Int64
            do {
                size = try await blobSize(descriptor.digest, in: repository)
            } catch let error as RegistryError where error.code == .blobUnknown {
                throw RegistryError(.manifestBlobUnknown,
                                    "manifest references blob \(descriptor.digest), which is not in repository \(repository): push the blob first",
                                    detail: ["digest": descriptor.digest.description])
            }
            guard size == descriptor.size else {
                throw RegistryError(.manifestInvalid,
                                    "descriptor of \(descriptor.digest) says \(descriptor.size) bytes but the stored blob has \(size)",
                                    detail: ["digest": descriptor.digest.description])
            }
        }
        for child in manifest.manifests where validation.requireIndexChildren {
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
        if let cached = content.manifest(digest) {
            statistics.cacheCounters.record(.manifest, hit: true)
            return cached
        }
        statistics.cacheCounters.record(.manifest, hit: false)
        let bytes: ByteBuffer
        do {
            bytes = try await driver.getContent(StoragePath.blobData(digest).path, maxBytes: Self.maxManifestBytes)
        } catch StorageDriverError.notFound {
            throw RegistryError(.manifestUnknown, "manifest \(digest) is linked in \(repository) but its content is missing",
                                detail: ["digest": digest.description])
        }
        let manifest = StoredManifest(digest: digest, mediaType: try await mediaType(of: digest, bytes: bytes), bytes: bytes)
        content.setManifest(manifest)
        return manifest
    }

    func mediaType(of digest: Digest, bytes: ByteBuffer) async throws -> String {
        if let cached = mediaTypes.get(digest) {
            statistics.cacheCounters.record(.mediaType, hit: true)
            return cached
        }
        statistics.cacheCounters.record(.mediaType, hit: false)
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
            return try await index.listings.sortedNames(driver, StoragePath.tags(repository).path) {
                Tag.isValid($0) ? $0 : nil
            }
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
