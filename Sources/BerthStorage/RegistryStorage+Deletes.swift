import BerthCore

extension RegistryStorage {
    /// Removes a blob's link from a repository. The content itself is only removed by garbage
    /// collection, since other repositories and manifests may share it.
    public func unlinkBlob(_ digest: Digest, from repository: RepositoryName) async throws {
        let link = StoragePath.layerLink(repository, digest).path
        guard try await driver.exists(link) else {
            throw RegistryError(.blobUnknown, "blob \(digest) is not linked in repository \(repository)",
                                detail: ["digest": digest.description])
        }
        await descriptors?.forget(digest, in: repository)
        try await driver.delete(Self.parentDirectory(of: link))
    }

    /// Deletes a tag (by tag), or a manifest and every tag pointing at it (by digest). Finding
    /// those tags uses the reverse index, never a scan of the repository's tags. The tags go
    /// first, the manifest last, so no tag is ever left pointing at a deleted manifest.
    /// Immutable tags refuse both, unless `overwrite`.
    public func deleteManifest(_ reference: Reference, in repository: RepositoryName, overwrite: Bool = false) async throws {
        let digest = try await resolveManifest(reference, in: repository)
        try await ensureIndexed(repository)
        defer { overviewChanged(repository) }
        switch reference {
        case .tag(let tag):
            if !overwrite, let rule = immutability.rule(for: tag.value, in: repository.value) {
                throw immutability.refusal(tag, in: repository, rule: rule, "it cannot be deleted")
            }
            try await driver.delete(StoragePath.tag(repository, tag).path)
            try await driver.delete(StoragePath.digestTag(repository, digest, tag).path)
        case .digest:
            let tags = try await tags(pointingAt: digest, in: repository)
            if !overwrite, let tag = tags.first(where: { immutability.rule(for: $0.value, in: repository.value) != nil }),
               let rule = immutability.rule(for: tag.value, in: repository.value) {
                throw immutability.refusal(tag, in: repository, rule: rule, "it points at \(digest), so the manifest cannot be deleted")
            }
            for tag in tags {
                try await driver.delete(StoragePath.tag(repository, tag).path)
            }
            try await driver.delete(StoragePath.digestTags(repository, digest).path)
            if let bytes = try? await driver.getContent(StoragePath.blobData(digest).path, maxBytes: Self.maxManifestBytes),
               let subject = (try? ParsedManifest.parse(bytes.readableBytesView,
                                                        contentType: try await mediaType(of: digest, bytes: bytes)))?.subject {
                try await driver.delete(StoragePath.referrer(repository, subject: subject.digest, digest).path)
            }
            let link = StoragePath.manifestRevisionLink(repository, digest).path
            await descriptors?.forget(digest, in: repository)
            try await driver.delete(Self.parentDirectory(of: link))
            statistics.record(manifests: -1)
            try await removeFromCatalogIfEmpty(repository)
        }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[..<slash])
    }
}
