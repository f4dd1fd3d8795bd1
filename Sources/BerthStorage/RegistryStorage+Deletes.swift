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

    /// Deletes a tag (by tag), or a manifest and every tag pointing at it (by digest).
    public func deleteManifest(_ reference: Reference, in repository: RepositoryName) async throws {
        let digest = try await resolveManifest(reference, in: repository)
        switch reference {
        case .tag(let tag):
            try await driver.delete(StoragePath.tag(repository, tag).path)
        case .digest:
            for name in try await listTags(in: repository) {
                guard let tag = try? Tag(name) else { continue }
                if let current = try? await readLink(.tagCurrentLink(repository, tag)), current == digest {
                    try await driver.delete(StoragePath.tag(repository, tag).path)
                }
            }
            let link = StoragePath.manifestRevisionLink(repository, digest).path
            try await driver.delete(Self.parentDirectory(of: link))
        }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[..<slash])
    }
}
