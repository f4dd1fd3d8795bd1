import BerthCore
import Foundation
import NIOCore

/// A manifest as the web UI shows it: what it is, what it references, which tags point at it and
/// which artifacts refer to it.
public struct ManifestDetails: Sendable {
    public var digest: Digest
    public var mediaType: String
    public var size: Int64
    public var manifest: ParsedManifest
    /// The exact bytes stored.
    public var bytes: ByteBuffer
    /// The image configuration, for image manifests whose config is stored and readable.
    public var configuration: ImageConfiguration?
    /// An index's children, each with its platform (nil where the index gives none).
    public var children: [(descriptor: Descriptor, platform: Platform?)]
    public var tags: [String]
    public var referrers: [Descriptor]
}

/// Reading for the web UI. Everything here reads one repository's own links and the content they
/// name; nothing walks the storage tree.
extension RegistryStorage {
    /// The repository's overview, from the cache when this process computed it since the last
    /// change; `NAME_UNKNOWN` for a repository without manifests.
    public func repositoryOverview(_ repository: RepositoryName) async throws -> RepositoryOverview {
        if let cached = index.overviews.get(repository) { return cached }
        let generation = index.overviews.generation
        let overview = try await computeOverview(repository)
        index.overviews.set(repository, overview, computedSince: generation)
        return overview
    }

    /// Computes the overviews of catalogued repositories that have none yet or an old one
    /// (the server's overview indexer runs this at start and every minute). Returns how many, or
    /// nil when the catalog is not built yet: building it is left to the server's catalog builder,
    /// since a second walk of the storage racing pushes could drop their catalog entries.
    @discardableResult
    public func refreshOverviews() async throws -> Int? {
        if !index.catalogBuilt, try await !driver.exists(StoragePath.catalogIndexed.path) { return nil }
        var computed = 0
        for name in try await catalog() {
            guard let repository = try? RepositoryName(name), index.overviews.needsRefresh(repository) else { continue }
            try Task.checkCancellation()
            let generation = index.overviews.generation
            // A repository deleted meanwhile is skipped; the next catalog read no longer lists it.
            guard let overview = try? await computeOverview(repository) else { continue }
            index.overviews.set(repository, overview, computedSince: generation)
            computed += 1
        }
        return computed
    }

    /// Drops the repository's cached overview (after a push or delete).
    func overviewChanged(_ repository: RepositoryName) { index.overviews.invalidate(repository) }

    private func computeOverview(_ repository: RepositoryName) async throws -> RepositoryOverview {
        var tags: [TagOverview] = []
        var content: [Digest: Int64] = [:]
        var lastPush: Date?
        for name in try await listTags(in: repository) {
            guard let tag = try? Tag(name) else { continue }
            let link = StoragePath.tagCurrentLink(repository, tag)
            // A tag deleted while this runs, or one whose manifest is gone: not shown.
            guard let digest = try? await readLink(link),
                  let facts = try? await contentFacts(digest, in: repository) else { continue }
            let pushed = try? await driver.stat(link.path).modified
            if let pushed, pushed > (lastPush ?? .distantPast) { lastPush = pushed }
            content.merge(facts.content) { a, _ in a }
            tags.append(TagOverview(name: name, digest: digest.description, mediaType: facts.mediaType,
                                    size: facts.content.values.reduce(0, +), pushedAt: pushed, platforms: facts.platforms))
        }
        return RepositoryOverview(name: repository.value, tags: tags, totalBytes: content.values.reduce(0, +), lastPush: lastPush)
    }

    /// A manifest's media type, the distinct content it reaches with sizes, and its platforms.
    private func contentFacts(_ digest: Digest, in repository: RepositoryName) async throws
        -> (mediaType: String, content: [Digest: Int64], platforms: [String]) {
        let stored = try await getManifest(.digest(digest), in: repository)
        let manifest = try ParsedManifest.parse(stored.bytes.readableBytesView, contentType: stored.mediaType)
        var content: [Digest: Int64] = [digest: Int64(stored.bytes.readableBytes)]
        for blob in (manifest.config.map { [$0] } ?? []) + manifest.layers { content[blob.digest] = blob.size }
        guard manifest.isIndex else {
            let platform = try? await configuration(of: manifest)?.platform
            return (stored.mediaType, content, platform.map { [$0] } ?? [])
        }
        var platforms: [String] = []
        let childPlatforms = Platform.ofChildren(Data(stored.bytes.readableBytesView))
        for (i, child) in manifest.manifests.enumerated() {
            if i < childPlatforms.count, let text = childPlatforms[i]?.text { platforms.append(text) }
            // Children of a sparse index may be absent: counted by what the index says.
            guard let facts = try? await contentFacts(child.digest, in: repository) else {
                content[child.digest] = child.size
                continue
            }
            content.merge(facts.content) { a, _ in a }
        }
        return (stored.mediaType, content, platforms)
    }

    /// The image configuration a manifest names, when stored and at most 1 MiB.
    func configuration(of manifest: ParsedManifest) async throws -> ImageConfiguration? {
        guard let config = manifest.config, config.size <= 1 << 20, config.mediaType != MediaType.ociEmpty else { return nil }
        let bytes = try await driver.getContent(StoragePath.blobData(config.digest).path, maxBytes: 1 << 20)
        return ImageConfiguration.decode(Data(bytes.readableBytesView))
    }

    /// Everything the manifest page shows; `MANIFEST_UNKNOWN` when the repository does not hold it.
    public func manifestDetails(_ reference: Reference, in repository: RepositoryName) async throws -> ManifestDetails {
        let stored = try await getManifest(reference, in: repository)
        let manifest = try ParsedManifest.parse(stored.bytes.readableBytesView, contentType: stored.mediaType)
        try await ensureIndexed(repository)
        let platforms = manifest.isIndex ? Platform.ofChildren(Data(stored.bytes.readableBytesView)) : []
        let children = manifest.manifests.enumerated().map { i, child in
            (descriptor: child, platform: i < platforms.count ? platforms[i] : nil)
        }
        return ManifestDetails(
            digest: stored.digest, mediaType: stored.mediaType, size: Int64(stored.bytes.readableBytes), manifest: manifest,
            bytes: stored.bytes, configuration: try? await configuration(of: manifest), children: children,
            tags: try await tags(pointingAt: stored.digest, in: repository).map(\.value).sorted(),
            referrers: try await referrers(of: stored.digest, in: repository))
    }
}
