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
        try await driver.delete(Self.parentDirectory(of: link))
    }

    /// Deletes a tag (by tag), or a manifest and every tag pointing at it (by digest). Finding
    /// those tags uses the reverse index, never a scan of the repository's tags. The tags go
    /// first, the manifest last, so no tag is ever left pointing at a deleted manifest.
    public func deleteManifest(_ reference: Reference, in repository: RepositoryName) async throws {
        let digest = try await resolveManifest(reference, in: repository)
        try await ensureIndexed(repository)
        switch reference {
        case .tag(let tag):
            try await driver.delete(StoragePath.tag(repository, tag).path)
            try await driver.delete(StoragePath.digestTag(repository, digest, tag).path)
        case .digest:
            for tag in try await tags(pointingAt: digest, in: repository) {
                try await driver.delete(StoragePath.tag(repository, tag).path)
            }
            try await driver.delete(StoragePath.digestTags(repository, digest).path)
            if let bytes = try? await driver.getContent(StoragePath.blobData(digest).path, maxBytes: Self.maxManifestBytes),
               let subject = (try? ParsedManifest.parse(bytes.readableBytesView,
                                                        contentType: try await mediaType(of: digest, bytes: bytes)))?.subject {
                try await driver.delete(StoragePath.referrer(repository, subject: subject.digest, digest).path)
            }
            let link = StoragePath.manifestRevisionLink(repository, digest).path
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
